#!/usr/bin/env python3
"""Write each fuzz target's seed corpus into fuzz/corpus/<target>/ (git-ignored), from the repo's
testdata/, fuzz/seeds/, and -- read at run time only, never copied into the repo -- ../shared/conformance/
when it is there. Seeds are named by content hash, so running this again adds nothing twice.
Usage: fuzz/make_seeds.py REPO_ROOT"""
import bz2, gzip, hashlib, io, json, lzma, os, shutil, subprocess, sys, tarfile

repo = os.path.abspath(sys.argv[1])
conformance = os.path.join(os.path.dirname(repo), "shared", "conformance")
corpus = os.path.join(repo, "fuzz", "corpus")


def seed(target, data):
    if isinstance(data, str):
        data = data.encode()
    d = os.path.join(corpus, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "seed-" + hashlib.sha1(data).hexdigest()), "wb") as f:
        f.write(data)


def files(*roots):
    for root in roots:
        if not os.path.isdir(root):
            continue
        for dirpath, _, names in sorted(os.walk(root)):
            for n in sorted(names):
                yield os.path.join(dirpath, n)


def dockerfiles():
    roots = [os.path.join(repo, "testdata", "parser"), os.path.join(repo, "examples"),
             os.path.join(conformance, "buildkit-parser"), os.path.join(conformance, "real-world")]
    for p in files(*roots):
        if os.path.basename(p).startswith("Dockerfile") or p.endswith(".Dockerfile"):
            with open(p, "rb") as f:
                yield f.read()


# Dockerfile parser: whole files.
for text in dockerfiles():
    seed("dockerfile_parse", text)

# Word expansion: every line of those files that references a variable, in each mode, both escapes.
words = set()
for text in dockerfiles():
    for line in text.decode("utf-8", "replace").splitlines():
        if "$" in line:
            words.add(line.split(None, 1)[-1][:512])
words |= {"${A:-x}", "${EMPTY:+y}", "${A#?}", "${PATH%%:*}", "${LONG//ab/c}", "${U/ï/i}", "'$A' \"$SP\" \\$A",
          "${GLOB?must be set}", "${X:?}", "$A$B${A}${B}", "${A:-${B:-${EMPTY:-z}}}", "`$A"}
for i, w in enumerate(sorted(words)[:400]):
    seed("word_expand", bytes([i % 6]) + w.encode())

# .dockerignore matcher: patterns, NUL, paths.
by_patterns = {}
path = os.path.join(conformance, "dockerignore", "cases.json")
if os.path.isfile(path):
    for case in json.load(open(path))["cases"]:
        by_patterns.setdefault("\n".join(case["patterns"]), []).append(case["path"])
path = os.path.join(conformance, "dockerignore", "ignorefile_cases.json")
if os.path.isfile(path):
    for case in json.load(open(path)).get("cases", []):
        if isinstance(case.get("input"), str):
            by_patterns.setdefault(case["input"], []).append("a/b")
for p in files(os.path.join(repo, "testdata", "context")):
    if os.path.basename(p).endswith("dockerignore"):
        by_patterns.setdefault(open(p, encoding="utf-8", errors="replace").read(), []).append("src/main.rs")
by_patterns.setdefault("# comment\n*.md\n!README.md\n**/target\nsrc/**/*.o\n[a-c]?x\n", []).extend(
    ["README.md", "docs/x.md", "a/target/b", "src/x/y/z.o", "bqx"])
for patterns, paths in by_patterns.items():
    seed("dockerignore_match", patterns + "\0" + "\n".join(paths))

# Tar extraction: small archives with every entry type and the classic escapes.
def tar(entries, fmt=tarfile.PAX_FORMAT):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=fmt) as t:
        for name, kind, extra in entries:
            info = tarfile.TarInfo(name)
            info.mtime = 1700000000
            data = b""
            if kind == "file":
                data = extra or b"hello\n"
                info.size = len(data)
                info.mode = 0o644
            elif kind == "dir":
                info.type = tarfile.DIRTYPE
                info.mode = extra or 0o755
            elif kind == "symlink":
                info.type, info.linkname = tarfile.SYMTYPE, extra
            elif kind == "link":
                info.type, info.linkname = tarfile.LNKTYPE, extra
            elif kind == "fifo":
                info.type = tarfile.FIFOTYPE
            elif kind in ("chr", "blk"):
                info.type = tarfile.CHRTYPE if kind == "chr" else tarfile.BLKTYPE
                info.devmajor, info.devminor = extra
            elif kind == "pax":
                info.size = 2
                info.pax_headers = extra
                data = b"x\n"
            t.addfile(info, io.BytesIO(data) if data else None)
    return buf.getvalue()


archives = [
    [("etc/", "dir", None), ("etc/passwd", "file", b"root:x:0:0::/root:/bin/sh\n"), ("bin/", "dir", None),
     ("bin/sh", "file", b"\x7fELF"), ("bin/ash", "link", "bin/sh"), ("usr/bin", "symlink", "../bin")],
    [("a/", "dir", None), ("a/.wh.b", "file", b""), ("a/.wh..wh..opq", "file", b""), ("a/c", "file", None)],
    [("../escape", "file", None)],
    [("/abs", "file", None)],
    [("up", "symlink", "../../.."), ("up/x", "file", None)],
    [("root", "symlink", "/"), ("root/x", "file", None), ("root/", "dir", 0o700)],
    [("d/", "dir", 0o700), ("d", "symlink", ".."), ("e/", "dir", 0o555), ("e/f", "file", None)],
    [("l", "symlink", "/etc/passwd"), ("h", "link", "l"), ("h2", "link", "../outside")],
    [("dev/", "dir", None), ("dev/null", "chr", (1, 3)), ("dev/loop0", "blk", (7, 0)), ("p", "fifo", None)],
    [("x", "pax", {"SCHILY.xattr.user.k": "v", "uid": "1000", "gid": "1000", "mtime": "1.5"})],
    [("long/" + "n" * 200, "file", None)],
]
for entries in archives:
    seed("tar_extract", tar(entries))
    seed("tar_extract", gzip.compress(tar(entries), mtime=0))
# ADD also unpacks bzip2, xz and zstd archives (the zstd command only when it is installed).
for entries in archives[:3]:
    seed("tar_extract", bz2.compress(tar(entries)))
    seed("tar_extract", lzma.compress(tar(entries), format=lzma.FORMAT_XZ))
    if shutil.which("zstd"):
        seed("tar_extract", subprocess.run(["zstd", "-q", "-c"], input=tar(entries), capture_output=True,
                                           check=True).stdout)
seed("tar_extract", tar(archives[0], tarfile.GNU_FORMAT))
seed("tar_extract", tar(archives[10], tarfile.GNU_FORMAT))
seed("tar_extract", tar(archives[0], tarfile.USTAR_FORMAT))

# Image JSON: the committed seeds plus every JSON file in testdata/.
for p in files(os.path.join(repo, "fuzz", "seeds", "image_json"), os.path.join(repo, "testdata")):
    if p.endswith(".json"):
        with open(p, "rb") as f:
            seed("image_json", f.read())
