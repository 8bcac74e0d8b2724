"""manifest.json: what a bundle holds, sealed. Standard library only (signatures need `cryptography`), so the
light runtime on a device can check a bundle before loading anything from it.

The seal, in three strengths:
- manifest.sha256 beside manifest.json holds the manifest's own sha256, and manifest.json holds the sha256 of
  every other file: any edit to a file, to a label, a file name or a setting is caught unless both were
  rewritten together, which only a deliberate attacker does;
- against that attacker, an app pins the manifest's sha256 (printed by `edgekit package`) and passes it to
  edgekit.runtime.load(..., manifest_sha256=...) or `edgekit verify --sha256`;
- or the bundle is signed (`edgekit package --sign-key`, Ed25519): manifest.sig, checked against the public key
  the app holds (load(..., public_key=...), `edgekit verify --public-key`).
Every path the runtime opens is a relative path inside the bundle, listed and hashed here.
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path, PurePosixPath
from typing import Any

from edgekit.errors import BundleError, MissingDependencyError
from edgekit.runtime.hashing import file_table, sha256_file

MANIFEST_NAME = "manifest.json"
SEAL_NAME = "manifest.sha256"
SIGNATURE_NAME = "manifest.sig"
MANIFEST_FORMAT = "edgekit.bundle"
MANIFEST_VERSION = 2  # 2: sealed (manifest.sha256), every opened path listed and hashed
RUNTIMES = ("onnxruntime", "openvino")
TASKS = ("feature-extraction", "text-classification", "fill-mask", "token-classification", "question-answering")
_HEX64 = re.compile(r"[0-9a-f]{64}")


def manifest_sha256(bundle: Path) -> str:
    return hashlib.sha256((Path(bundle) / MANIFEST_NAME).read_bytes()).hexdigest()


def read_manifest(bundle: Path, *, expected_sha256: str | None = None, public_key: bytes | str | Path | None = None
                  ) -> dict:
    """The manifest of a bundle directory: sealed, of a version this edgekit reads, every field well formed.
    expected_sha256: the manifest's pinned sha256; public_key: an Ed25519 public key (PEM, or a path to one)
    the bundle's signature must verify against."""
    bundle = Path(bundle)
    path = bundle / MANIFEST_NAME
    if not bundle.is_dir():
        raise BundleError(f"bundle '{bundle}' does not exist or is not a directory")
    if not path.is_file():
        raise BundleError(f"'{bundle}' is not an edgekit bundle: it has no {MANIFEST_NAME}")
    raw = path.read_bytes()
    try:
        manifest = json.loads(raw.decode("utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise BundleError(f"'{path}' is not valid JSON ({exc.__class__.__name__})") from None
    if not isinstance(manifest, dict) or manifest.get("format") != MANIFEST_FORMAT:
        raise BundleError(f"'{path}' is not an edgekit bundle manifest (no \"format\": \"{MANIFEST_FORMAT}\")")
    version = manifest.get("manifest_version")
    if version != MANIFEST_VERSION:
        raise BundleError(f"bundle '{bundle}' has manifest version {version!r}, which this edgekit cannot read; "
                          f"readable: {MANIFEST_VERSION} (package the artefact again)")
    digest = hashlib.sha256(raw).hexdigest()
    _check_seal(bundle, digest)
    if expected_sha256 is not None and digest != str(expected_sha256).strip().lower():
        raise BundleError(f"bundle '{bundle}': its manifest's sha256 is {digest}, not the pinned {expected_sha256}; "
                          "refusing a bundle that is not the one the app was built for")
    if public_key is not None:
        verify_signature(bundle, raw, public_key)
    _check_fields(manifest, path)
    return manifest


def _check_seal(bundle: Path, digest: str) -> None:
    seal = bundle / SEAL_NAME
    try:
        recorded = seal.read_text(encoding="utf-8").split()[0]
    except (OSError, UnicodeDecodeError, IndexError):
        raise BundleError(f"bundle '{bundle}' has no readable {SEAL_NAME}: its manifest is not sealed") from None
    if recorded != digest:
        raise BundleError(f"bundle '{bundle}': {MANIFEST_NAME} was changed after packaging (its sha256 does not match "
                          f"{SEAL_NAME}); refusing to load it")


def _check_path(name: Any, where: str, path: Path) -> str:
    """A file name the runtime may open: a relative POSIX path inside the bundle."""
    parts = PurePosixPath(name).parts if isinstance(name, str) else ()
    if not isinstance(name, str) or not name or name.startswith(("/", "\\")) or "\\" in name or ".." in parts \
            or (len(name) > 1 and name[1] == ":") or name != PurePosixPath(name).as_posix():
        raise BundleError(f"bundle manifest '{path}': {where} {name!r} is not a relative path inside the bundle")
    return name


def _check_fields(manifest: dict, path: Path) -> None:
    def fail(what: str):
        raise BundleError(f"bundle manifest '{path}': {what}; it is damaged or not from edgekit")

    files = manifest.get("files")
    if not isinstance(files, dict) or not files:
        fail("'files' is not a table of file names")
    for name, entry in files.items():
        _check_path(name, "listed file", path)
        if not (isinstance(entry, dict) and isinstance(entry.get("sha256"), str) and _HEX64.fullmatch(entry["sha256"])
                and isinstance(entry.get("bytes"), int) and not isinstance(entry["bytes"], bool) and entry["bytes"] >= 0):
            fail(f"the entry of {name!r} is not a sha256 and a byte count")

    def listed(name: Any, where: str) -> None:
        if _check_path(name, where, path) not in files:
            fail(f"{where} {name!r} is not among the hashed files")

    if manifest.get("runtime") not in RUNTIMES:
        fail(f"'runtime' is {manifest.get('runtime')!r}, not one of {', '.join(RUNTIMES)}")
    if manifest.get("task") not in TASKS:
        fail(f"'task' is {manifest.get('task')!r}, not one of {', '.join(TASKS)}")
    listed(manifest.get("model_file"), "model_file")
    if manifest.get("mobile_model_file") is not None:
        listed(manifest["mobile_model_file"], "mobile_model_file")
    tokenizer = manifest.get("tokenizer")
    if not isinstance(tokenizer, dict):
        fail("'tokenizer' is not a table")
    listed(tokenizer.get("file"), "tokenizer file")
    if any(not isinstance(tokenizer.get(k), (str, type(None))) for k in ("pad_token", "mask_token")):
        fail("a tokenizer special token is not a string")
    max_length = manifest.get("max_length")
    if not isinstance(max_length, int) or isinstance(max_length, bool) or max_length < 2:
        fail(f"'max_length' is {max_length!r}, not a whole number of at least 2")
    for key in ("inputs", "outputs"):
        ports = manifest.get(key)
        if not isinstance(ports, list) or not ports or not all(isinstance(p, dict) and isinstance(p.get("name"), str)
                                                               for p in ports):
            fail(f"'{key}' is not a list of named ports")
    labels = manifest.get("labels")
    if labels is not None and not (isinstance(labels, dict) and all(isinstance(k, str) and k.lstrip("-").isdigit()
                                                                    and isinstance(v, str) for k, v in labels.items())):
        fail("'labels' is not a table of class ids to names")
    precision = manifest.get("inference_precision")
    if precision is not None and precision not in ("f32", "bf16", "f16"):
        fail(f"'inference_precision' is {precision!r}")
    graph = manifest.get("graph_tokenizer")
    if graph is not None:
        if not isinstance(graph, dict) or not isinstance(graph.get("built"), bool):
            fail("'graph_tokenizer' is not a table with 'built'")
        if graph["built"]:
            listed(graph.get("file"), "graph_tokenizer file")
            for name in graph.get("files") or []:
                listed(name, "graph_tokenizer file")
    session = manifest.get("session")
    if session is not None and not isinstance(session, dict):
        fail("'session' is not a table")
    target = manifest.get("target")
    if not isinstance(target, dict) or not all(isinstance(target.get(k), str) for k in ("name", "precision", "isa")):
        fail("'target' is not a table with a name, precision and isa")
    for key in ("fidelity", "source"):
        if manifest.get(key) is not None and not isinstance(manifest[key], dict):
            fail(f"'{key}' is not a table")
    shape = manifest.get("architecture")
    if shape is not None and not (isinstance(shape, dict) and all(
            isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in shape.values())):
        fail("'architecture' is not a table of positive whole numbers")


def verify_files(bundle: Path, manifest: dict) -> None:
    """Every listed file is present with its size and sha256, and nothing else is in the bundle."""
    bundle = Path(bundle)
    listed = manifest["files"]
    for name, entry in listed.items():
        path = bundle / name
        if not _inside(bundle, path):
            raise BundleError(f"bundle manifest lists {name!r}, which is outside the bundle")
        if not path.is_file() or path.is_symlink():
            raise BundleError(f"bundle '{bundle}' is missing {name}, which its manifest lists")
        if path.stat().st_size != entry["bytes"] or sha256_file(path) != entry["sha256"]:
            raise BundleError(f"bundle file '{path}' does not match its sha256 in {MANIFEST_NAME}: it was changed "
                              "or damaged; refusing to load it")
    own = {MANIFEST_NAME, SEAL_NAME, SIGNATURE_NAME}
    extra = sorted(p.relative_to(bundle).as_posix() for p in bundle.rglob("*")
                   if (p.is_file() or p.is_symlink()) and p.relative_to(bundle).as_posix() not in own
                   and p.relative_to(bundle).as_posix() not in listed)
    if extra:
        raise BundleError(f"bundle '{bundle}' holds files its manifest does not list ({', '.join(extra[:5])}); "
                          "refusing a bundle that was added to")


def manifest_files(directory: Path) -> dict[str, dict]:
    own = {MANIFEST_NAME, SEAL_NAME, SIGNATURE_NAME}
    return {name: entry for name, entry in file_table(directory).items() if name not in own}


def write_manifest(directory: Path, fields: dict, *, signing_key: bytes | str | Path | None = None) -> dict:
    """Write manifest.json (fields and the hash of every file), its seal, and a signature when given a key."""
    manifest = {"format": MANIFEST_FORMAT, "manifest_version": MANIFEST_VERSION, **fields,
                "files": manifest_files(directory)}
    raw = (json.dumps(manifest, indent=2) + "\n").encode("utf-8")
    (directory / MANIFEST_NAME).write_bytes(raw)
    (directory / SEAL_NAME).write_text(f"{hashlib.sha256(raw).hexdigest()}  {MANIFEST_NAME}\n", encoding="utf-8")
    if signing_key is not None:
        (directory / SIGNATURE_NAME).write_bytes(sign(raw, signing_key))
    _check_fields(manifest, directory / MANIFEST_NAME)
    return manifest


# -- signatures (Ed25519, through the `cryptography` package) ---------------------------------------------------
def _crypto() -> Any:
    try:
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import ed25519
    except ImportError:
        raise MissingDependencyError("cryptography", "signing or checking a bundle's signature", "sign") from None
    return serialization, ed25519


def _pem(key: bytes | str | Path) -> bytes:
    if isinstance(key, bytes):
        return key
    text = str(key)
    if "-----BEGIN" in text:
        return text.encode("ascii")
    try:
        return Path(text).read_bytes()
    except OSError as exc:
        raise BundleError(f"cannot read the key file {text!r}: {exc.strerror or exc}") from None


def check_signing_key(private_key: bytes | str | Path) -> None:
    """Fail now on a key that cannot sign (missing, not PEM, not Ed25519), before a bundle is built."""
    sign(b"edgekit", private_key)


def public_key_pem(private_key: bytes | str | Path) -> bytes:
    """The PEM public key an app holds to check bundles signed with this private key."""
    serialization, _ = _crypto()
    key = serialization.load_pem_private_key(_pem(private_key), password=None)
    return key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


def sign(data: bytes, private_key: bytes | str | Path) -> bytes:
    serialization, ed25519 = _crypto()
    try:
        key = serialization.load_pem_private_key(_pem(private_key), password=None)
    except (ValueError, TypeError) as exc:
        raise BundleError(f"the signing key is not an unencrypted PEM private key ({exc})") from None
    if not isinstance(key, ed25519.Ed25519PrivateKey):
        raise BundleError("the signing key is not an Ed25519 key (openssl genpkey -algorithm ed25519 makes one)")
    return key.sign(data)


def verify_signature(bundle: Path, raw_manifest: bytes, public_key: bytes | str | Path) -> None:
    serialization, ed25519 = _crypto()
    from cryptography.exceptions import InvalidSignature

    try:
        key = serialization.load_pem_public_key(_pem(public_key))
    except (ValueError, TypeError) as exc:
        raise BundleError(f"the public key is not a PEM public key ({exc})") from None
    if not isinstance(key, ed25519.Ed25519PublicKey):
        raise BundleError("the public key is not an Ed25519 key")
    signature = Path(bundle) / SIGNATURE_NAME
    if not signature.is_file():
        raise BundleError(f"bundle '{bundle}' is not signed (no {SIGNATURE_NAME}), and a public key was given")
    try:
        key.verify(signature.read_bytes(), raw_manifest)
    except InvalidSignature:
        raise BundleError(f"bundle '{bundle}': its signature does not verify against the public key: it was changed "
                          "or signed by someone else") from None


def _inside(root: Path, path: Path) -> bool:
    try:
        path.resolve().relative_to(root.resolve())
        return True
    except ValueError:
        return False
