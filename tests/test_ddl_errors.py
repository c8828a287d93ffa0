"""The DDL client tells the FE's refusals apart by type at its edge: a statement refused because a
schema change job is running on the table is :class:`~sinkapp.errors.SchemaChangeRunning` (the
table shaper waits for the job), any other refusal a plain :class:`~sinkapp.errors.DdlError`."""

from __future__ import annotations

import pytest
from sinkapp_testkit.streamload import StreamLoadEmulator

from sinkapp.config.types import Secret
from sinkapp.errors import DdlError, SchemaChangeRunning
from sinkapp.tableshape.client import DdlClient


async def test_a_statement_refused_during_a_schema_change_job_is_schema_change_running() -> None:
    async with StreamLoadEmulator(password="pw", mysql_port=0, databases=["shop"], schema_change_s=2.0) as emu:
        client = DdlClient([("127.0.0.1", emu.mysql_port)], "root", Secret("pw"))
        try:
            await client.query("CREATE TABLE shop.orders (id BIGINT, qty INT) DUPLICATE KEY(id) "
                               "PROPERTIES ('fast_schema_evolution' = 'false')")
            await client.query("ALTER TABLE shop.orders ADD COLUMN note STRING")        # a job: 2 s
            with pytest.raises(SchemaChangeRunning, match="schema change operation is in progress"):
                await client.query("ALTER TABLE shop.orders ADD COLUMN other INT")
            with pytest.raises(DdlError) as info:
                await client.query("ALTER TABLE shop.missing ADD COLUMN other INT")
            assert not isinstance(info.value, SchemaChangeRunning)
        finally:
            await client.close()
