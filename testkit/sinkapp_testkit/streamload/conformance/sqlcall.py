"""SQL over the emulator's MySQL port with PyMySQL (the client StarRocks' tester uses), results in the
tester's text form (``StarrocksSQLApiLib.execute_sql``): one line per row, values ``str()``-ed and
tab-joined (SQL NULL is ``None``, a DATETIME ``2025-04-17 11:00:00``); a statement without rows is
``""``; an error is ``E: (code, 'message')``."""

from __future__ import annotations

from typing import Any

import pymysql


class Session:
    """One connection (the tester opens one per case and one per concurrent thread)."""

    def __init__(self, port: int, *, user: str = "root", password: str = "", database: str | None = None) -> None:
        self.conn = pymysql.connect(host="127.0.0.1", port=port, user=user, password=password,
                                    database=database, autocommit=True, connect_timeout=10,
                                    read_timeout=120, client_flag=pymysql.constants.CLIENT.MULTI_STATEMENTS)

    def run(self, sql: str) -> str:
        try:
            with self.conn.cursor() as cur:
                cur.execute(sql)
                rows: list[tuple[Any, ...]] = list(cur.fetchall())
                while cur.nextset():          # several statements in one query: the last result counts
                    rows = list(cur.fetchall())
        except pymysql.MySQLError as exc:
            return f"E: {exc.args}"
        return "\n".join("\t".join(str(v) for v in row) for row in rows)

    def rows(self, sql: str) -> tuple[list[str], list[tuple[Any, ...]]]:
        """Column names and rows (for the tester's functions); raises pymysql errors."""
        with self.conn.cursor() as cur:
            cur.execute(sql)
            names = [d[0] for d in cur.description or ()]
            return names, list(cur.fetchall())

    def database(self) -> str | None:
        _names, rows = self.rows("SELECT DATABASE()")
        return rows[0][0] if rows and rows[0][0] else None

    def close(self) -> None:
        try:
            self.conn.close()
        except pymysql.MySQLError:
            pass
