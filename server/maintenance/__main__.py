"""python -m server.maintenance reseal-secrets

reseal-secrets  seal every customer's two-step sign-in secret again under the first of
                BANK_SEALING_KEYS, so that the keys after it (an old signing key, an old
                sealing key) can be dropped; exits 1 when a secret opens under no key
                (docs/adr/0903)
"""

from __future__ import annotations

import asyncio
import sys

from runtime.settings import Settings
from server.adapters.postgres.pool import create_pool
from server.adapters.secret_box import SecretBox
from server.application.two_step import reseal_all


async def _reseal_secrets(settings: Settings) -> int:
    pool = await create_pool(settings.database_url, min_size=1, max_size=1)
    try:
        report = await reseal_all(pool, SecretBox(*settings.sealing_keys()))
    finally:
        await pool.close()
    print(
        f"sealed again under the first key: {report.resealed}; under it already:"
        f" {report.current}; under no key: {len(report.unreadable)}"
    )
    for user_id in report.unreadable:
        print(f"  user {user_id}: its secret opens under none of the keys given")
    return 1 if report.unreadable else 0


def main(argv: list[str]) -> int:
    if argv != ["reseal-secrets"]:
        print(__doc__, file=sys.stderr)
        return 2
    return asyncio.run(_reseal_secrets(Settings.from_env()))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
