"""The archon-security policy pack: only builds the PolicyPack (rule logic lives in archon_policies)."""

from archon_policies.pack import PACK_NAME, build_policies
from pulumi_policy import EnforcementLevel, PolicyPack

PolicyPack(name=PACK_NAME, enforcement_level=EnforcementLevel.ADVISORY, policies=build_policies())
