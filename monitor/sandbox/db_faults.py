"""Faults inside the database, for tests, benchmarks and the reliability matrix: a real database
error the product must survive (the "poisoned post"), on SQLite and on PostgreSQL alike."""
from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine


async def refuse_mentions_saying(engine: AsyncEngine, word: str = "POISON") -> None:
    """From now on the database refuses to store any mention whose text contains `word` (a constraint
    violation: SQLSTATE 23514 on PostgreSQL, SQLITE_CONSTRAINT on SQLite). Call after migrating."""
    if not word.isalnum():
        raise ValueError("a plain word, please: it is put in SQL")
    async with engine.begin() as conn:
        if engine.dialect.name == "sqlite":
            await conn.execute(text(
                f"CREATE TRIGGER refuse_{word} BEFORE INSERT ON mentions WHEN NEW.text LIKE '%{word}%' "
                f"BEGIN SELECT RAISE(ABORT, 'refused: the text says {word}'); END"))
            return
        await conn.execute(text(
            f"CREATE FUNCTION refuse_{word}() RETURNS trigger AS $$ BEGIN IF NEW.text LIKE '%{word}%' THEN "
            f"RAISE EXCEPTION 'refused: the text says {word}' USING ERRCODE = 'check_violation'; END IF; "
            "RETURN NEW; END $$ LANGUAGE plpgsql"))
        await conn.execute(text(f"CREATE TRIGGER refuse_{word} BEFORE INSERT ON mentions FOR EACH ROW "
                                f"EXECUTE FUNCTION refuse_{word}()"))
