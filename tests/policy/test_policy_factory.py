"""One factory makes every policy by name, for suites, rollouts and offline replay."""

from __future__ import annotations

import pytest

from webserv.policy.base import Policy
from webserv.policy.factory import make_policy
from webserv.policy.persona import BUILTIN
from webserv.policy.random_shopper import RandomShopper
from webserv.policy.reference import ReferencePolicy
from webserv.policy.scripted import ScriptedShopper
from webserv.policy.vlm import ChatModel, ModelConfig, VLMShopper
from webserv.tasks.config import EvalSpec, TaskConfig

TASK = TaskConfig(
    task_id=1,
    sites=["shopping"],
    start_url="__SHOPPING__",
    intent="Say yes",
    eval=EvalSpec(eval_types=["string_match"]),
    reference_solution=['stop("yes")'],
)


async def test_make_policy_makes_each_kind_by_name():
    made: list[Policy] = [
        make_policy("reference", task=TASK),
        make_policy("random", seed=3),
        make_policy("scripted", seed=1),
    ]
    assert [type(p) for p in made] == [ReferencePolicy, RandomShopper, ScriptedShopper]
    assert [p.name for p in made] == ["reference", "random", "scripted"]
    scripted = made[2]
    assert isinstance(scripted, ScriptedShopper) and scripted.persona == BUILTIN[1]
    model = ChatModel(ModelConfig(endpoint="http://127.0.0.1:9/v1", model="m"))
    try:
        vlm = make_policy("vlm", model=model, persona=BUILTIN[0])
        assert isinstance(vlm, VLMShopper) and vlm.persona == BUILTIN[0]
    finally:
        await model.close()


def test_make_policy_refuses_what_a_kind_cannot_work_without():
    with pytest.raises(ValueError, match="needs a task"):
        make_policy("reference")
    with pytest.raises(ValueError, match="needs a model"):
        make_policy("vlm")
    with pytest.raises(ValueError, match="unknown policy 'oracle'"):
        make_policy("oracle")
