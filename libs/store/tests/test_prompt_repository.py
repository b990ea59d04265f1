"""Prompt templates in PostgreSQL: versions on text changes, defaults per scope, guarded deletes."""

from __future__ import annotations

from dataclasses import replace
from typing import Any
from uuid import uuid4

import asyncpg
import pytest

from tradelane.contracts.strategy import AnalysisSettings, StrategyDefinition, SymbolRef
from tradelane.store.prompts import PromptFields, PromptInUseError, PromptNameTakenError, PromptRepository
from tradelane.store.strategies import StrategyRepository


@pytest.fixture
def prompts(pool: asyncpg.Pool[Any]) -> PromptRepository:
    return PromptRepository(pool)


def _fields(name: str = "daily", **overrides: Any) -> PromptFields:
    return replace(PromptFields(name=name, type="analysis"), **overrides)


async def test_a_new_template_is_version_one(prompts: PromptRepository) -> None:
    created = await prompts.create(_fields(tags=("swing", "en")), "Analyse {{ symbol }}")
    fetched = await prompts.get(created.id)
    assert fetched == created
    assert (created.version, created.latest_version, created.fields.tags) == (1, 1, ("swing", "en"))


async def test_changing_the_text_adds_a_version_and_keeps_the_old_one(prompts: PromptRepository) -> None:
    created = await prompts.create(_fields(), "v1 {{ symbol }}")
    updated = await prompts.update(created.id, created.fields, "v2 {{ symbol }}")
    assert updated is not None
    assert (updated.version, updated.text) == (2, "v2 {{ symbol }}")
    old = await prompts.get(created.id, 1)
    assert old is not None
    assert (old.version, old.latest_version, old.text) == (1, 2, "v1 {{ symbol }}")
    assert [item.version for item in await prompts.versions(created.id)] == [1, 2]


async def test_changing_only_the_fields_keeps_the_version(prompts: PromptRepository) -> None:
    created = await prompts.create(_fields(), "text")
    updated = await prompts.update(created.id, replace(created.fields, notes="tuned for crypto", active=False), "text")
    assert updated is not None
    assert (updated.version, updated.fields.notes, updated.fields.active) == (1, "tuned for crypto", False)


async def test_an_update_cannot_change_the_type(prompts: PromptRepository) -> None:
    created = await prompts.create(_fields(), "text")
    updated = await prompts.update(created.id, replace(created.fields, type="system"), "text")
    assert updated is not None
    assert updated.fields.type == "analysis"


async def test_a_duplicate_name_is_refused(prompts: PromptRepository) -> None:
    await prompts.create(_fields("same"), "a")
    with pytest.raises(PromptNameTakenError, match="'same' already exists"):
        await prompts.create(_fields("same"), "b")


async def test_a_missing_version_or_template_is_none(prompts: PromptRepository) -> None:
    created = await prompts.create(_fields(), "text")
    assert await prompts.get(created.id, 2) is None
    assert await prompts.get(uuid4()) is None
    assert await prompts.update(uuid4(), created.fields, "x") is None


async def test_list_filters_by_type_language_scope_active_and_tags(prompts: PromptRepository) -> None:
    strategy_id = uuid4()
    await prompts.create(_fields("a", tags=("swing", "daily")), "a")
    await prompts.create(_fields("b", language="zh", tags=("swing",)), "b")
    await prompts.create(_fields("c", type="system"), "c")
    await prompts.create(_fields("d", strategy_id=strategy_id, active=False), "d")

    async def names(**filters: Any) -> list[str]:
        return [item.fields.name for item in await prompts.list(**filters)]

    assert await names() == ["a", "b", "c", "d"]
    assert await names(type="system") == ["c"]
    assert await names(language="zh") == ["b"]
    assert await names(strategy_id=strategy_id) == ["d"]
    assert await names(active=False) == ["d"]
    assert await names(tags=["swing"]) == ["a", "b"]
    assert await names(tags=["swing", "daily"]) == ["a"]


async def test_a_new_default_replaces_the_old_one_in_its_scope_only(prompts: PromptRepository) -> None:
    strategy_id = uuid4()
    first = await prompts.create(_fields("first", is_default=True), "1")
    scoped = await prompts.create(_fields("scoped", is_default=True, strategy_id=strategy_id), "s")
    second = await prompts.create(_fields("second", is_default=True), "2")
    defaults = {item.fields.name: item.fields.is_default for item in await prompts.list()}
    assert defaults == {"first": False, "scoped": True, "second": True}
    assert first.id != second.id != scoped.id


async def test_the_default_for_a_strategy_prefers_its_own(prompts: PromptRepository) -> None:
    strategy_id = uuid4()
    await prompts.create(_fields("global", is_default=True), "g")
    await prompts.create(_fields("own", is_default=True, strategy_id=strategy_id), "o")
    own = await prompts.default_for("analysis", "en", strategy_id)
    other = await prompts.default_for("analysis", "en", uuid4())
    assert own is not None
    assert other is not None
    assert (own.fields.name, other.fields.name) == ("own", "global")


async def test_an_inactive_default_is_not_used(prompts: PromptRepository) -> None:
    await prompts.create(_fields(is_default=True, active=False), "x")
    assert await prompts.default_for("analysis", "en", uuid4()) is None


async def test_deleting_removes_the_template_and_its_versions(prompts: PromptRepository) -> None:
    created = await prompts.create(_fields(), "text")
    assert await prompts.delete(created.id) is True
    assert await prompts.get(created.id) is None
    assert await prompts.versions(created.id) == []
    assert await prompts.delete(created.id) is False


async def test_a_template_a_strategy_uses_cannot_be_deleted(pool: asyncpg.Pool[Any], prompts: PromptRepository) -> None:
    created = await prompts.create(_fields(), "text")
    definition = StrategyDefinition(
        name="uses it", symbol=SymbolRef(symbol="AAPL"), analysis=AnalysisSettings(prompt_template_id=created.id)
    )
    await StrategyRepository(pool).create(definition)
    with pytest.raises(PromptInUseError, match="'uses it'") as caught:
        await prompts.delete(created.id)
    assert caught.value.strategies == ("uses it",)
    assert await prompts.get(created.id) is not None
