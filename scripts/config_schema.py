"""Write schema/buildsheriff.schema.json from the config model (tests keep the two equal).

    python scripts/config_schema.py
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from app.core.config_schema import SCHEMA_PATH, config_schema  # noqa: E402


def main() -> int:
    target = ROOT / SCHEMA_PATH
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps(config_schema(), indent=2, ensure_ascii=False) + "\n")
    print(f"wrote {target.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
