"""The real node's images, built here without a registry, cached by the hash of their inputs, imported into the node.

    python -m e2e.images build [NAME ...]      build what is missing (all by default), print each image's state
    python -m e2e.images import --address SOCK import every built image into a containerd (namespace k8s.io)
    python -m e2e.images list [--json]         what each image is, stands in for, and how it differs

The table is data (tools/e2e/images.json): Debian bases made by mmdebstrap, the app's images built with the project's
own Dockerfiles from Archon's pinned source, and stand-ins for the third-party images the stack names. Builds run
with buildah (chroot isolation, the host's network and CA bundle) into a storage under the tool cache; each built
image is kept as a docker-archive named after its key, which changes with anything its build reads: the table entry,
the Containerfile, every file of its context, the keys of the images it builds on, the service catalog's build
arguments. Nothing is pulled from a registry: a FROM names only images of the table.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from e2e import paths

TABLE = paths.ROOT / "tools" / "e2e" / "images.json"
RECIPES = paths.ROOT / "tools" / "e2e" / "images"
DEBIAN_MIRROR = "http://deb.debian.org/debian"
DEBIAN_SECURITY = "http://deb.debian.org/debian-security"
CA_BUNDLE = "/etc/ssl/certs/ca-certificates.crt"
# Set in the Debian bases so that the build steps of every image (pip, uv, npm) trust the CA bundle the harness
# mounts over the image's own during builds; at run time the path holds Debian's bundle.
CA_ENV = {"SSL_CERT_FILE": CA_BUNDLE, "PIP_CERT": CA_BUNDLE, "NODE_EXTRA_CA_CERTS": CA_BUNDLE}
TRIM = ("path-exclude=/usr/share/doc/*", "path-exclude=/usr/share/man/*", "path-exclude=/usr/share/locale/*",
        "path-include=/usr/share/locale/locale.alias")


class ImageError(RuntimeError):
    """A build or import that failed, with what failed and where its log is."""


@dataclass
class Image:
    """One row of the table."""

    name: str
    tags: list[str]
    containerfile: str | None = None
    ignorefile: str | None = None
    rootfs: dict | None = None
    context: list[str] = field(default_factory=list)
    service: str | None = None
    args: dict[str, str] = field(default_factory=dict)
    config: dict = field(default_factory=dict)
    software: str = ""
    role: str = ""
    differs: str = ""

    @property
    def local_tag(self) -> str:
        """The tag FROM lines of later builds use (the first one)."""
        return normalize(self.tags[0])


def normalize(ref: str) -> str:
    """A reference as containerd stores it (docker.io and library/ filled in)."""
    first, _, rest = ref.partition("/")
    if not rest:
        return f"docker.io/library/{ref}"
    if "." in first or ":" in first or first == "localhost":
        return ref
    return f"docker.io/{ref}"


def cache_dir() -> Path:
    """Where images are built and kept, beside the toolchain."""
    return paths.cache_dir() / "images"


def load_table(table: Path = TABLE) -> tuple[dict, list[Image]]:
    """The table's Archon source pin and its images, in build order (an image after those it names)."""
    raw = json.loads(table.read_text())
    images = [Image(**{k: v for k, v in row.items()}) for row in raw["images"]]
    known: set[str] = set()
    for image in images:
        for value in image.args.values():
            if value.startswith("@") and value[1:] not in known:
                raise ImageError(f"{table.name}: {image.name} builds on {value[1:]}, which is not an earlier image")
        if bool(image.rootfs) == bool(image.containerfile):
            raise ImageError(f"{table.name}: {image.name} needs exactly one of rootfs or containerfile")
        known.add(image.name)
    return raw["archon"], images


def archon_source(pin: dict) -> Path:
    """Archon's pinned source, unpacked once into the cache from its tarball (ARCHON_SOURCE_DIR holds the tarball;
    default ../shared/sources), checked against the pinned sha256."""
    unpacked = cache_dir() / "sources" / pin["sha256"][:16]
    if (unpacked / ".complete").is_file():
        return unpacked
    folder = Path(os.environ.get("ARCHON_SOURCE_DIR", paths.SHARED / "sources"))
    tarball = folder / pin["source"]
    if not tarball.is_file():
        raise ImageError(f"Archon's source {tarball} is missing (set ARCHON_SOURCE_DIR to the folder holding it)")
    digest = hashlib.sha256(tarball.read_bytes()).hexdigest()
    if digest != pin["sha256"]:
        raise ImageError(f"{tarball}: sha256 {digest}, expected {pin['sha256']} (tools/e2e/images.json)")
    shutil.rmtree(unpacked, ignore_errors=True)
    unpacked.mkdir(parents=True)
    with tarfile.open(tarball) as archive:
        archive.extractall(unpacked, filter="data")
    (unpacked / ".complete").write_text(digest)
    return unpacked


def service_args(service: str) -> dict[str, str]:
    """The build arguments the service catalog gives one service (what the delivery pipeline builds with)."""
    from components.service_catalog import BY_KEY

    return dict(BY_KEY[service].build_args)


def build_args(image: Image, built: dict[str, Image]) -> dict[str, str]:
    """The image's build arguments: the catalog's, then the table's, with @NAME turned into that image's tag."""
    values = {**(service_args(image.service) if image.service else {}), **image.args}
    return {k: (built[v[1:]].local_tag if v.startswith("@") else v) for k, v in values.items()}


def assemble_context(image: Image, archon: Path | None, into: Path) -> None:
    """Copy what the image's build context holds into `into`."""
    into.mkdir(parents=True, exist_ok=True)
    for source in image.context:
        if source.startswith("archon:"):
            if archon is None:
                raise ImageError(f"{image.name}: needs Archon's source")
            shutil.copytree(archon / source.removeprefix("archon:"), into, dirs_exist_ok=True, symlinks=True)
        elif source.startswith("tool:"):
            name = source.removeprefix("tool:")
            tool = paths.cache_dir() / "tools" / name.rstrip("/")
            if not tool.exists():
                raise ImageError(f"{image.name}: {tool} is not built (make e2e-tools)")
            if name.endswith("/"):
                shutil.copytree(tool.resolve(), into, dirs_exist_ok=True, symlinks=True)
            else:
                shutil.copy2(tool.resolve(), into / name)
        else:
            shutil.copytree(RECIPES / source, into, dirs_exist_ok=True)


def tree_digest(root: Path) -> str:
    """sha256 over every file's path, mode and content under `root`, in path order."""
    digest = hashlib.sha256()
    for path in sorted(p for p in root.rglob("*") if p.is_file() or p.is_symlink()):
        digest.update(str(path.relative_to(root)).encode() + b"\0")
        if path.is_symlink():
            digest.update(b"link:" + os.readlink(path).encode())
        else:
            digest.update(oct(path.stat().st_mode & 0o777).encode())
            with path.open("rb") as handle:
                for chunk in iter(lambda: handle.read(1 << 20), b""):
                    digest.update(chunk)
        digest.update(b"\0")
    return digest.hexdigest()


def recipe_file(name: str) -> Path:
    """A Containerfile or ignore file of the table: the project's docker/ ones, or tools/e2e/images/."""
    return paths.ROOT / name if name.startswith("docker/") else RECIPES / name


def image_key(image: Image, args: dict[str, str], context_digest: str, parents: list[str]) -> str:
    """The cache key: everything the build reads."""
    parts = {"row": image.__dict__, "args": args, "context": context_digest, "parents": parents}
    for name in (image.containerfile, image.ignorefile):
        if name:
            parts[name] = hashlib.sha256(recipe_file(name).read_bytes()).hexdigest()
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:16]


class Builder:
    """buildah with its own storage under the cache, and the archives of what it built."""

    def __init__(self, cache: Path | None = None) -> None:
        self.cache = cache or cache_dir()
        self.archives = self.cache / "archives"
        self.logs = self.cache / "logs"
        self.storage = ["--root", str(self.cache / "storage"), "--runroot", str(self.cache / "run"),
                        "--storage-driver", "overlay"]
        for folder in (self.archives, self.logs):
            folder.mkdir(parents=True, exist_ok=True)

    def buildah(self, *args: str, log: Path | None = None, capture: bool = False) -> str:
        command = ["buildah", *self.storage, *args]
        with (log.open("a") if log else open(os.devnull, "w")) as sink:
            done = subprocess.run(command, stdout=subprocess.PIPE if capture else sink, stderr=sink, text=True,
                                  env={**os.environ, "BUILDAH_ISOLATION": "chroot"})
        if done.returncode != 0:
            where = f" (log: {log})" if log else ""
            raise ImageError(f"buildah {' '.join(args[:2])} failed with exit code {done.returncode}{where}")
        return done.stdout if capture else ""

    def archive(self, image: Image, key: str) -> Path:
        return self.archives / f"{image.name}-{key}.tar"

    def present(self, tag: str) -> bool:
        done = subprocess.run(["buildah", *self.storage, "inspect", "--type", "image", tag], capture_output=True)
        return done.returncode == 0

    def ensure_loaded(self, image: Image, key: str) -> None:
        """An archived image is in the storage too (later builds start FROM it)."""
        if not self.present(image.local_tag):
            self.buildah("pull", "--quiet", f"docker-archive:{self.archive(image, key)}", log=self.logs / "load.log")
            for tag in image.tags:
                self.buildah("tag", normalize(image.tags[0]), normalize(tag))

    def build_rootfs(self, image: Image, log: Path) -> None:
        rootfs = image.rootfs or {}
        suite, include = rootfs["suite"], rootfs.get("include", [])
        with tempfile.TemporaryDirectory(dir=self.cache) as work:
            tarball = Path(work) / "rootfs.tar"
            sources = [f"deb {DEBIAN_MIRROR} {suite} main", f"deb {DEBIAN_MIRROR} {suite}-updates main",
                       f"deb {DEBIAN_SECURITY} {suite}-security main"]
            command = ["mmdebstrap", "--variant=minbase", "--quiet", f"--include={','.join(include)}",
                       *(f"--dpkgopt={o}" for o in TRIM),
                       '--customize-hook=rm -rf "$1"/var/lib/apt/lists/* "$1"/var/cache/apt/*.bin',
                       suite, str(tarball), *sources]
            with log.open("a") as sink:
                if subprocess.run(command, stdout=sink, stderr=sink).returncode != 0:
                    raise ImageError(f"mmdebstrap {suite} failed (log: {log})")
            container = self.buildah("from", "--quiet", "scratch", log=log, capture=True).strip()
            try:
                self.buildah("add", "--quiet", container, str(tarball), "/", log=log)
                env = {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", **CA_ENV}
                self.buildah("config", *(f"--env={k}={v}" for k, v in env.items()), "--cmd", "/bin/bash",
                             container, log=log)
                self.buildah("commit", "--quiet", "--rm", container, image.local_tag, log=log)
            except ImageError:
                subprocess.run(["buildah", *self.storage, "rm", container], capture_output=True)
                raise

    def build_containerfile(self, image: Image, args: dict[str, str], context: Path, log: Path) -> None:
        flags = ["bud", "--quiet", "--isolation", "chroot", "--network", "host", "--pull=never", "--layers=false",
                 "--volume", f"{CA_BUNDLE}:{CA_BUNDLE}:ro", "-f", str(recipe_file(image.containerfile or "")),
                 "-t", image.local_tag, *(f"--build-arg={k}={v}" for k, v in args.items())]
        if image.ignorefile:
            flags += ["--ignorefile", str(recipe_file(image.ignorefile))]
        self.buildah(*flags, str(context), log=log)
        if image.config:
            container = self.buildah("from", "--quiet", "--pull-never", image.local_tag, log=log, capture=True).strip()
            settings = []
            if "entrypoint" in image.config:
                settings += ["--entrypoint", json.dumps(image.config["entrypoint"]), "--cmd", "[]"]
            self.buildah("config", *settings, container, log=log)
            self.buildah("commit", "--quiet", "--rm", container, image.local_tag, log=log)

    def build(self, names: list[str] | None = None, table: Path = TABLE, available: bool = False) -> list[dict]:
        """Build what is missing; the report has one row per image (name, key, state, seconds). With `available`,
        images that need a tool not built yet (and those built on them) are left for later instead of refused."""
        pin, images = load_table(table)
        wanted = set(names or [i.name for i in images])
        unknown = wanted - {i.name for i in images}
        if unknown:
            raise ImageError(f"no image named {', '.join(sorted(unknown))} in {table.name}")
        by_name = {i.name: i for i in images}
        needed = set(wanted)
        for image in reversed(images):  # each wanted image's ancestors are needed too
            if image.name in needed:
                needed |= {v[1:] for v in image.args.values() if v.startswith("@")}
        archon = (archon_source(pin) if any(s.startswith("archon:") for n in needed for s in by_name[n].context)
                  else None)
        built: dict[str, Image] = {}
        keys: dict[str, str] = {}
        report = []
        for image in images:
            if image.name not in needed:
                continue
            if available:
                waiting = [s for s in image.context if s.startswith("tool:")
                           and not (paths.cache_dir() / "tools" / s.removeprefix("tool:").rstrip("/")).exists()]
                waiting += [v[1:] for v in image.args.values() if v.startswith("@") and v[1:] not in built]
                if waiting:
                    report.append({"name": image.name, "key": "-", "state": "waiting", "seconds": 0.0,
                                   "for": waiting})
                    continue
            args = build_args(image, built)
            parents = [keys[v[1:]] for v in image.args.values() if v.startswith("@") and v[1:] in keys]
            with tempfile.TemporaryDirectory(dir=self.cache) as work:
                context = Path(work) / "context"
                assemble_context(image, archon, context)
                key = image_key(image, args, tree_digest(context), parents)
                keys[image.name] = key
                built[image.name] = image
                archive = self.archive(image, key)
                if archive.is_file():
                    self.ensure_loaded(image, key)
                    report.append({"name": image.name, "key": key, "state": "cached", "seconds": 0.0})
                    continue
                log = self.logs / f"{image.name}.log"
                log.write_text(f"# {image.name} {key}\n")
                start = time.monotonic()
                print(f"images: building {image.name} (log: {log})", flush=True)
                if image.rootfs:
                    self.build_rootfs(image, log)
                else:
                    self.build_containerfile(image, args, context, log)
                for tag in image.tags[1:]:
                    self.buildah("tag", image.local_tag, normalize(tag), log=log)
                for old in self.archives.glob(f"{image.name}-*.tar"):
                    old.unlink()
                partial = archive.with_suffix(".partial")
                self.buildah("push", "--quiet", image.local_tag, f"docker-archive:{partial}:{image.local_tag}", log=log)
                partial.rename(archive)
                report.append({"name": image.name, "key": key, "state": "built",
                               "seconds": round(time.monotonic() - start, 1)})
        index = self.cache / "keys.json"
        known = json.loads(index.read_text()) if index.is_file() else {}
        index.write_text(json.dumps({**known, **keys}, indent=2, sort_keys=True))
        return report


def node_images(table: Path = TABLE) -> list[tuple[Image, Path]]:
    """Each image the node gets (all but the Debian bases) with its archive, as the last build left them."""
    keys = json.loads((cache_dir() / "keys.json").read_text()) if (cache_dir() / "keys.json").is_file() else {}
    _, images = load_table(table)
    found = []
    for image in images:
        if image.rootfs:
            continue
        archive = cache_dir() / "archives" / f"{image.name}-{keys.get(image.name, '?')}.tar"
        if not archive.is_file():
            raise ImageError(f"{image.name} is not built: python -m e2e.images build")
        found.append((image, archive))
    return found


def node_refs(table: Path = TABLE) -> list[str]:
    """Every reference the node can run without pulling (the placement policy sends pods whose images are all here)."""
    return sorted({normalize(tag) for image, _ in node_images(table) for tag in image.tags})


def import_images(ctr: Path, address: str, table: Path = TABLE) -> list[dict]:
    """Import every built image into containerd's k8s.io namespace, under each of its tags."""
    report = []
    for image, archive in node_images(table):
        start = time.monotonic()
        base = ["--address", address, "--namespace", "k8s.io"]
        done = subprocess.run([str(ctr), *base, "images", "import", "--no-unpack=false", str(archive)],
                              capture_output=True, text=True)
        if done.returncode != 0:
            raise ImageError(f"ctr images import {archive.name} failed: {done.stderr.strip()[-500:]}")
        for tag in image.tags[1:]:
            subprocess.run([str(ctr), *base, "images", "tag", "--force", image.local_tag, normalize(tag)],
                           capture_output=True, check=True)
        report.append({"name": image.name, "seconds": round(time.monotonic() - start, 1)})
    return report


def main(argv: list[str] | None = None) -> int:
    """Command line."""
    parser = argparse.ArgumentParser(prog="python -m e2e.images", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    build = sub.add_parser("build", help="build what is missing")
    build.add_argument("names", nargs="*")
    build.add_argument("--available", action="store_true",
                       help="leave images whose tools are not built yet for later (while scripts/e2e-tools.sh runs)")
    imports = sub.add_parser("import", help="import every built image into a containerd")
    imports.add_argument("--address", required=True, help="containerd's socket")
    listing = sub.add_parser("list", help="what each image is")
    listing.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    try:
        if args.command == "build":
            for row in Builder().build(args.names, available=args.available):
                waiting = f"  (for {', '.join(row['for'])})" if row.get("for") else ""
                print(f"  {row['name']:<20} {row['state']:<7} {row['key']}  {row['seconds']:>7.1f}s{waiting}")
        elif args.command == "import":
            ctr = paths.cache_dir() / "tools" / "ctr"
            total = time.monotonic()
            rows = import_images(ctr, args.address)
            print(f"images: {len(rows)} imported in {time.monotonic() - total:.0f}s")
        else:
            _, images = load_table()
            rows = [{"name": i.name, "tags": i.tags, "software": i.software, "role": i.role, "differs": i.differs}
                    for i in images if not i.rootfs]
            if args.json:
                print(json.dumps(rows, indent=2))
            else:
                for row in rows:
                    print(f"{row['name']}: {', '.join(row['tags'])}\n  {row['software']}; {row['role']}"
                          + (f"\n  differs: {row['differs']}" if row["differs"] else ""))
    except ImageError as error:
        print(f"images: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
