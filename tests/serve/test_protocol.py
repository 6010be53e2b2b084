"""Message parsing and validation, without a server."""

import json

import pytest

from loci.serve.protocol import (
    MAX_MESSAGE_BYTES,
    ListSaves,
    Load,
    ProtocolError,
    Reset,
    Save,
    Step,
    Text,
    parse_message,
)


def test_valid_messages_parse_to_typed_dataclasses():
    assert parse_message('{"type":"step","keys":"qw","t":12.5,"seq":3}') == Step("WQ", 12.5, 3)
    assert parse_message('{"type":"step","keys":""}') == Step(".")
    assert parse_message('{"type":"step","keys":"."}') == Step(".")
    assert parse_message('{"type":"text","text":" turn left 30 degrees "}') == Text("turn left 30 degrees")
    assert parse_message('{"type":"reset"}') == Reset()
    assert parse_message('{"type":"list"}') == ListSaves()
    assert parse_message('{"type":"save","name":"my_world-2"}') == Save("my_world-2")
    assert parse_message(b'{"type":"load","name":"A"}') == Load("A")


@pytest.mark.parametrize(
    ("raw", "needle"),
    [
        ("{not json", "malformed JSON"),
        ("[1, 2]", "JSON object"),
        ('"step"', "JSON object"),
        ('{"type":"fly"}', "unknown message type"),
        ('{"keys":"W"}', "unknown message type"),
        ('{"type":"step","keys":"X"}', "unknown key"),
        ('{"type":"step","keys":5}', "'keys'"),
        ('{"type":"step","keys":"W","seq":-1}', "'seq'"),
        ('{"type":"step","keys":"W","seq":true}', "'seq'"),
        ('{"type":"step","keys":"W","t":"now"}', "'t'"),
        ('{"type":"step","keys":"W","extra":1}', "unknown field"),
        ('{"type":"text","text":""}', "non-empty"),
        (json.dumps({"type": "text", "text": "a" * 501}), "501 characters"),
        ('{"type":"save","name":"../etc"}', "bad save name"),
        ('{"type":"save","name":"a/b"}', "bad save name"),
        ('{"type":"load","name":"x.safetensors"}', "bad save name"),
        ('{"type":"load","name":""}', "bad save name"),
        (json.dumps({"type": "load", "name": "a" * 65}), "bad save name"),
        ('{"type":"save"}', "bad save name"),
        (json.dumps({"type": "list", "pad": "x" * MAX_MESSAGE_BYTES}), "limit"),
        ("[" * 1000 + "]" * 1000, "nested too deeply"),  # was RecursionError, an 'internal error'
        ('{"type":"step","keys":"W","t":' + "9" * 4000 + "}", "'t' must be within"),  # was OverflowError
        ('{"type":"step","keys":"W","t":1e300}', "'t' must be a finite number within"),
        ('{"type":"step","keys":"W","t":NaN}', "'t' must be a finite number"),
        ('{"type":"step","keys":"W","t":-Infinity}', "'t' must be a finite number"),
    ],
)
def test_bad_messages_raise_protocol_errors(raw, needle):
    with pytest.raises(ProtocolError, match=needle):
        parse_message(raw)


def test_errors_echo_the_sequence_number():
    with pytest.raises(ProtocolError) as info:
        parse_message('{"type":"step","keys":"Z","seq":9}')
    assert info.value.seq == 9
