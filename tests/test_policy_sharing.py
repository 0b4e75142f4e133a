"""The memoized SDK conversions: same answers, computed once per distinct input."""

from __future__ import annotations

from google.protobuf import json_format, struct_pb2

from policies.archon_policies.sharing import Memo, _message_bytes


def counting(fn):
    calls = []

    def wrapped(*args, **kwargs):
        calls.append(args)
        return fn(*args, **kwargs)
    return wrapped, calls


def test_identity_hits_compute_once():
    fn, calls = counting(lambda d: dict(d))
    memo = Memo(fn)
    data = {"a": 1}
    assert memo(data) is memo(data)
    assert len(calls) == 1


def test_equal_content_in_a_new_message_is_reused_and_other_content_is_not():
    fn, calls = counting(json_format.MessageToDict)
    memo = Memo(fn, content_key=_message_bytes)
    first, same, other = struct_pb2.Struct(), struct_pb2.Struct(), struct_pb2.Struct()
    first.update({"kind": "Pod"})
    same.update({"kind": "Pod"})
    other.update({"kind": "Deployment"})
    assert memo(first) == memo(same) == {"kind": "Pod"}
    assert memo(other) == {"kind": "Deployment"}
    assert len(calls) == 2


def test_a_recycled_id_is_never_a_stale_hit():
    fn, calls = counting(lambda d: sorted(d))
    memo = Memo(fn, size=1)
    assert memo({"b": 1}) == ["b"]
    assert memo({"c": 1}) == ["c"]  # may reuse the freed dict's id; the entry holds its own object
    assert memo({"d": 1, "e": 2}) == ["d", "e"]
    assert len(calls) == 3


def test_extra_arguments_are_part_of_the_key():
    fn, calls = counting(lambda d, keep=False: (dict(d), keep))
    memo = Memo(fn)
    data = {"a": 1}
    assert memo(data)[1] is False and memo(data, True)[1] is True
    assert len(calls) == 2
