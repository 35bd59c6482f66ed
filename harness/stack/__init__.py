"""The stack: real brokers on loopback with a Toxiproxy proxy in front of every client listener.

``harness stack up|down|status|logs|provision`` drive it from the shell; ``Stack.load()``
gives other code the running stack and its ``NodeHandle``s. An existing environment is an env
file (``load_env``, ``Stack.from_env``): its nodes are ``CommandedNode``s, driven by commands.
"""

from harness.stack import layout, local, netcut, process
from harness.stack.commanded import CommandedNode
from harness.stack.envfile import ENV_VAR, EnvFile, NodeControl, env_path, load_env, parse_env
from harness.stack.handles import NodeHandle
from harness.stack.leader import followers_of_partition, leader_of_partition, partition_leaders
from harness.stack.quorum import controller_leader
from harness.stack.stack import Stack
from harness.stack.state import NodeState, ProxyState, StackState, load_state

__all__ = [
    "ENV_VAR",
    "CommandedNode",
    "EnvFile",
    "NodeControl",
    "env_path",
    "load_env",
    "parse_env",
    "NodeHandle",
    "NodeState",
    "ProxyState",
    "Stack",
    "StackState",
    "layout",
    "local",
    "process",
    "controller_leader",
    "netcut",
    "followers_of_partition",
    "leader_of_partition",
    "load_state",
    "partition_leaders",
]
