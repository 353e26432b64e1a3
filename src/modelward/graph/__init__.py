"""Inference graphs: transformers, routers (A/B, bandits learning from feedback), combiners, shadows.

A graph is served as one ``MLModel`` (``InferenceGraph``) built from a model endpoint's ``graph:``
(see docs/graphs.md). Custom routers subclass ``Router``, custom combiners ``Combiner``.
"""

from modelward.graph.build import NodeFactory, build_graph
from modelward.graph.combiners import (
    AverageCombiner,
    Combiner,
    MajorityVoteCombiner,
    WeightedAverageCombiner,
)
from modelward.graph.config import GraphConfig, NodeConfig, NodeType
from modelward.graph.graph import InferenceGraph
from modelward.graph.routers import EpsilonGreedyRouter, FixedWeightRouter, Router, ThompsonSamplingRouter
from modelward.graph.state import ArmStats, MemoryStateStore, RedisStateStore, SqliteStateStore, StateStore

__all__ = [
    "ArmStats", "AverageCombiner", "Combiner", "EpsilonGreedyRouter", "FixedWeightRouter", "GraphConfig",
    "InferenceGraph", "MajorityVoteCombiner", "MemoryStateStore", "NodeConfig", "NodeFactory", "NodeType",
    "RedisStateStore", "Router", "SqliteStateStore", "StateStore", "ThompsonSamplingRouter",
    "WeightedAverageCombiner", "build_graph",
]
