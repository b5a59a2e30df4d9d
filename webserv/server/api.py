"""EnvApi: the ``/v1`` operations in wire models, over one :class:`EnvService`.

The HTTP endpoints answer with these, and so do a cluster's node agents to trainers that
call them directly (no HTTP): one definition of what each call returns.
"""

from __future__ import annotations

from typing import Any

from webserv.browser.observation import Observation
from webserv.server.service import EnvService, ServedEnv
from webserv.wire import (
    Closed,
    CreateRequest,
    EnvSummary,
    GroupOut,
    GroupRequest,
    ObservationOut,
    PoolOut,
    ResetOut,
    ResetRequest,
    StepOut,
)


class EnvApi:
    """What each ``/v1`` call answers, given the service that runs it."""

    def __init__(self, service: EnvService) -> None:
        self.service = service

    async def create_env(self, req: CreateRequest, client: str) -> ResetOut:
        return reset_out(*await self.service.create(req, client))

    async def describe(self, env_id: str) -> EnvSummary:
        return self.service.summary(await self.service.get(env_id))

    async def reset_env(self, env_id: str, req: ResetRequest) -> ResetOut:
        return reset_out(*await self.service.reset(env_id, req))

    async def step_env(self, env_id: str, action: str | dict[str, Any]) -> StepOut:
        result = await self.service.step(env_id, action)
        return StepOut(
            observation=ObservationOut.of(result.observation),
            reward=result.reward,
            terminated=result.terminated,
            truncated=result.truncated,
            info=result.info,
        )

    async def screenshot(self, env_id: str) -> bytes:
        return await self.service.screenshot(env_id)

    async def close_env(self, env_id: str) -> Closed:
        return Closed(closed=await self.service.close(env_id))

    async def create_group(self, req: GroupRequest, client: str) -> GroupOut:
        group, made = await self.service.create_group(req, client)
        return GroupOut(group=group, envs=[reset_out(*one) for one in made])

    async def reset_group(self, group: str, req: ResetRequest) -> GroupOut:
        made = await self.service.reset_group(group, req)
        return GroupOut(group=group, envs=[reset_out(*one) for one in made])

    async def close_group(self, group: str) -> Closed:
        return Closed(closed=await self.service.close_group(group))

    async def pool(self) -> PoolOut:
        """This server's envs and pool, and every live server in the registry."""
        svc = self.service
        return PoolOut(
            server=svc.owner,
            store=svc.store.name,
            envs=[svc.summary(env) for env in svc.envs_list()],
            sites=svc.served,
            pools=[status.model_dump() for status in svc.pool_status()],
            servers=[record.model_dump() for record in await svc.store.servers()],
        )


def reset_out(env: ServedEnv, obs: Observation, info: dict[str, Any]) -> ResetOut:
    return ResetOut(
        env_id=env.id, group=env.record.group, observation=ObservationOut.of(obs), info=info
    )
