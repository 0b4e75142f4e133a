"""The archon-security policy pack: only builds the PolicyPack (rule logic lives in archon_policies)."""

import sys
import threading

from archon_policies.pack import PACK_NAME, build_policies
from pulumi_policy import EnforcementLevel, PolicyPack

# The SDK turns each request into Python recursively (json_format.MessageToDict), a few frames per level of
# nesting: Python's default limit of 1000 fails on an object about 120 levels deep, which the engine sends
# without complaint. Room for the deepest object a Python gRPC client can encode, in threads with the stack for it.
sys.setrecursionlimit(20000)
threading.stack_size(256 * 1024 * 1024)

PolicyPack(name=PACK_NAME, enforcement_level=EnforcementLevel.ADVISORY, policies=build_policies())
