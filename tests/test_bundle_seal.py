"""The sealed bundle: any edit to the manifest, any path outside the bundle, fails `edgekit verify` (exit 2)
and edgekit.runtime.load (BundleError); pinned sha256s and Ed25519 signatures catch a resealed manifest."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import stat

import pytest

from edgekit import runtime
from edgekit.build.bundle.package import package
from edgekit.errors import BundleError
from edgekit.runtime.manifest import MANIFEST_NAME, SEAL_NAME, SIGNATURE_NAME


@pytest.fixture(scope="module")
def sealed(tiny_build, tmp_path_factory):
    artefact = tiny_build("onnx-fp32").out_dir
    return package(artefact_dir=artefact, out=tmp_path_factory.mktemp("sealed") / "b", graph_tokenizer=False,
                   quiet=True)


@pytest.fixture(scope="module")
def keys(tmp_path_factory):
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ed25519

    root = tmp_path_factory.mktemp("keys")
    paths = {}
    for name in ("builder", "stranger"):
        key = ed25519.Ed25519PrivateKey.generate()
        (root / f"{name}.pem").write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                                             serialization.PrivateFormat.PKCS8,
                                                             serialization.NoEncryption()))
        (root / f"{name}.pub").write_bytes(key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
        paths[name] = root / f"{name}.pem", root / f"{name}.pub"
    return paths


def _copy(bundle, tmp_path):
    copy = tmp_path / "copy"
    shutil.copytree(bundle, copy)
    for path in [copy, *copy.rglob("*")]:
        os.chmod(path, os.stat(path).st_mode | stat.S_IWUSR)
    return copy


def _edit(bundle, change, *, reseal: bool):
    """Rewrite the manifest; with reseal, also its manifest.sha256, as a deliberate attacker would."""
    manifest = json.loads((bundle / MANIFEST_NAME).read_text())
    change(manifest)
    raw = (json.dumps(manifest, indent=2) + "\n").encode()
    (bundle / MANIFEST_NAME).write_bytes(raw)
    if reseal:
        (bundle / SEAL_NAME).write_text(f"{hashlib.sha256(raw).hexdigest()}  {MANIFEST_NAME}\n")


def _refused(runner, cli, bundle, fragment, **load_options):
    with pytest.raises(BundleError, match=fragment):
        runtime.load(bundle, **load_options)
    args = ["verify", str(bundle)]
    if "manifest_sha256" in load_options:
        args += ["--sha256", load_options["manifest_sha256"]]
    if "public_key" in load_options:
        args += ["--public-key", str(load_options["public_key"])]
    result = runner.invoke(cli, args)
    assert result.exit_code == 2, result.output
    errors = [line for line in result.output.splitlines() if line.startswith("edgekit: error:")]
    assert len(errors) == 1 and "Traceback" not in result.output, result.output


def _mutate(value):
    if isinstance(value, bool):
        return not value
    if isinstance(value, (int, float)):
        return value + 1
    if isinstance(value, str):
        return value + "x"
    if isinstance(value, list):
        return value + [value[0] if value else 0]
    if isinstance(value, dict):
        return {**value, "edited": 1}
    return "edited"


def test_every_manifest_field_is_sealed(runner, cli, sealed, tmp_path):
    fields = sorted(json.loads((sealed.bundle_dir / MANIFEST_NAME).read_text()))
    assert {"labels", "model_file", "tokenizer", "files", "max_length", "inputs"} <= set(fields)
    for field in fields:
        bundle = _copy(sealed.bundle_dir, tmp_path / field)
        _edit(bundle, lambda m: m.__setitem__(field, _mutate(m[field])), reseal=False)
        expected = {"format": "not an edgekit bundle manifest", "manifest_version": "manifest version"}
        _refused(runner, cli, bundle, expected.get(field, "changed after packaging"))


# A deliberate attacker rewrites manifest.sha256 too: every path the runtime would open must still be a listed,
# hashed file inside the bundle, and every field well formed.
RESEALED_ATTACKS = [
    ("model outside, absolute", lambda m: m.update(model_file="/tmp/evil.onnx"), "not a relative path"),
    ("model outside, relative", lambda m: m.update(model_file="../evil.onnx"), "not a relative path"),
    ("model not hashed", lambda m: m.update(model_file="other.onnx"), "not among the hashed files"),
    ("tokenizer anywhere", lambda m: m["tokenizer"].update(file="/etc/passwd"), "not a relative path"),
    ("tokenizer backslash", lambda m: m["tokenizer"].update(file="..\\tokenizer.json"), "not a relative path"),
    ("graph tokenizer outside", lambda m: m.update(graph_tokenizer={"built": True, "file": "../t.onnx"}),
     "not a relative path"),
    ("files as a list", lambda m: m.update(files=list(m["files"])), "'files' is not a table"),
    ("file entry without hash", lambda m: m["files"].update({"model.onnx": {"bytes": 1}}), "not a sha256"),
    ("listed path outside", lambda m: m["files"].update({"../x": {"sha256": "0" * 64, "bytes": 1}}),
     "not a relative path"),
    ("max_length text", lambda m: m.update(max_length="abc"), "'max_length' is 'abc'"),
    ("max_length bool", lambda m: m.update(max_length=True), "'max_length' is True"),
    ("unknown runtime", lambda m: m.update(runtime="tensorflow"), "'runtime' is 'tensorflow'"),
    ("unknown task", lambda m: m.update(task="translation"), "'task' is 'translation'"),
    ("labels not names", lambda m: m.update(labels={"0": 5}), "'labels'"),
    ("target missing", lambda m: m.pop("target"), "'target'"),
    ("inputs empty", lambda m: m.update(inputs=[]), "'inputs'"),
    ("architecture text", lambda m: m.update(architecture={"heads": "12"}), "'architecture'"),
    ("version changed", lambda m: m.update(manifest_version=1), "manifest version 1"),
]


@pytest.mark.parametrize("change, fragment", [case[1:] for case in RESEALED_ATTACKS],
                         ids=[case[0] for case in RESEALED_ATTACKS])
def test_resealed_manifest_attacks_are_refused(runner, cli, sealed, tmp_path, change, fragment):
    bundle = _copy(sealed.bundle_dir, tmp_path)
    _edit(bundle, change, reseal=True)
    _refused(runner, cli, bundle, fragment)
    with pytest.raises(BundleError):  # the checksums skipped: paths and fields are still checked
        runtime.load(bundle, verify=False)


@pytest.mark.parametrize("damage, fragment", [
    ("seal deleted", "no readable manifest.sha256"),
    ("seal emptied", "no readable manifest.sha256"),
    ("manifest not json", "not valid JSON"),
    ("manifest deleted", "has no manifest.json"),
])
def test_a_broken_seal_is_refused(runner, cli, sealed, tmp_path, damage, fragment):
    bundle = _copy(sealed.bundle_dir, tmp_path)
    {"seal deleted": lambda: (bundle / SEAL_NAME).unlink(),
     "seal emptied": lambda: (bundle / SEAL_NAME).write_text(""),
     "manifest not json": lambda: (bundle / MANIFEST_NAME).write_text("{not json"),
     "manifest deleted": lambda: (bundle / MANIFEST_NAME).unlink()}[damage]()
    _refused(runner, cli, bundle, fragment)


def test_a_pinned_sha256_catches_a_resealed_relabelling(runner, cli, sealed, tmp_path):
    bundle = _copy(sealed.bundle_dir, tmp_path)
    runtime.load(bundle, manifest_sha256=sealed.manifest_sha256)  # the untouched copy loads
    _edit(bundle, lambda m: m.update(labels={k: "SAFE" for k in m["labels"]}), reseal=True)
    _refused(runner, cli, bundle, "not the pinned", manifest_sha256=sealed.manifest_sha256)


def test_signed_bundles(runner, cli, tiny_build, keys, tmp_path):
    (private, public), (_, stranger_public) = keys["builder"], keys["stranger"]
    result = runner.invoke(cli, ["package", str(tiny_build("onnx-fp32").out_dir), "--out", str(tmp_path / "s"),
                                 "--no-graph-tokenizer", "--sign-key", str(private), "-q"])
    assert result.exit_code == 0, result.output
    assert "signed (manifest.sig)" in result.output
    signed = tmp_path / "s"
    assert (signed / SIGNATURE_NAME).is_file()
    ok = runner.invoke(cli, ["verify", str(signed), "--public-key", str(public)])
    assert ok.exit_code == 0 and "signature verified" in ok.output, ok.output
    _refused(runner, cli, signed, "does not verify", public_key=stranger_public)
    bundle = _copy(signed, tmp_path / "edited")
    _edit(bundle, lambda m: m.update(labels={k: "SAFE" for k in m["labels"]}), reseal=True)
    _refused(runner, cli, bundle, "does not verify", public_key=public)


def test_an_unsigned_bundle_fails_a_signature_check(runner, cli, sealed, keys):
    _refused(runner, cli, sealed.bundle_dir, "is not signed", public_key=keys["builder"][1])


@pytest.mark.parametrize("key, fragment", [
    ("missing.pem", "cannot read the key file"),
    ("garbage.pem", "not an unencrypted PEM private key"),
    ("public.pem", "not an unencrypted PEM private key"),
])
def test_a_bad_signing_key_fails_before_packaging(runner, cli, tiny_build, keys, tmp_path, key, fragment):
    path = tmp_path / key
    if key == "garbage.pem":
        path.write_bytes(b"\x00\x01 not a key")
    elif key == "public.pem":
        shutil.copy(keys["builder"][1], path)
    out = tmp_path / "b"
    result = runner.invoke(cli, ["package", str(tiny_build("onnx-fp32").out_dir), "--out", str(out),
                                 "--sign-key", str(path), "-q"])
    assert result.exit_code == 2 and fragment in result.output, result.output
    assert not out.exists() and sorted(p.name for p in tmp_path.iterdir()) == ([key] if path.exists() else [])
