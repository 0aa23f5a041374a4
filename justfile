# toss's everyday commands: the same ones the README and .ci/run use, under short names.
# `just` alone lists them. Get just with `pip install rust-just` (a prebuilt binary, seconds)
# or `cargo install just --locked` (builds from source, minutes).

# Recipe arguments reach the commands as "$@", quoted as typed (`just test -- --nocapture`).
set positional-arguments
set shell := ["bash", "-euo", "pipefail", "-c"]

target := "x86_64-unknown-linux-musl"
bin := "target/" + target + "/release/toss"
# The image's tag and version label: [package] version, the first `version =` in Cargo.toml.
version := `sed -n 's/^version = "\(.*\)"$/\1/p' Cargo.toml | head -n1`
# The static binary's size budget (README, "Building"): CI fails at 3 MiB, the goal is 2 MiB.
size_limit := "3145728"
size_goal := "2097152"

# List the recipes.
default:
    @{{ just_executable() }} --justfile {{ justfile() }} --list

# The static musl binary that the image ships, and its size.
build:
    cargo build --release --target {{ target }}
    @echo "{{ bin }}: $(stat -c %s {{ bin }}) bytes"

# The tests, hermetic: the S3 server runs inside them.
test *args:
    cargo test "$@"

# Everything CI runs (installs what a fresh machine lacks; needs root for the chroot test).
ci:
    bash .ci/run

# One whole sidecar run against a local, signature-checking S3 server.
demo:
    cargo run --example demo

# Benchmarks against curl, s5cmd and the AWS CLI (see bench/run for its knobs).
bench *args:
    bench/run "$@"

# Fuzzing (see fuzz/run).
fuzz *args:
    fuzz/run "$@"

# rustfmt and clippy, warnings as errors.
lint:
    cargo fmt --all -- --check
    cargo clippy --all-targets -- -D warnings

# The static binary against the budget: fails at 3 MiB or more, as CI does.
size: build
    #!/usr/bin/env bash
    set -euo pipefail
    # As .ci/run: a static-pie binary (runs in an empty root, keeps ASLR).
    if command -v file >/dev/null; then
      file {{ bin }}
      file {{ bin }} | grep -q 'static-pie linked' || { echo "not a static-pie binary"; exit 1; }
    fi
    size=$(stat -c %s {{ bin }})
    mib() { awk -v n="$1" 'BEGIN { printf "%.2f MiB", n / 1048576 }'; }
    echo "size: $size bytes ($(mib "$size")); limit {{ size_limit }} (3 MiB), goal {{ size_goal }} (2 MiB)"
    if [ "$size" -lt {{ size_goal }} ]; then
      echo "under the goal by $(( {{ size_goal }} - size )) bytes"
    else
      echo "over the goal by $(( size - {{ size_goal }} )) bytes ($(mib $(( size - {{ size_goal }} ))))"
    fi
    [ "$size" -lt {{ size_limit }} ] || { echo "the static binary is over 3 MiB"; exit 1; }

# Which container tool builds the image: $ENGINE if set, else docker (when its daemon
# answers), podman, buildah, the first found.
_engine:
    #!/usr/bin/env bash
    set -euo pipefail
    if [ -n "${ENGINE:-}" ]; then echo "$ENGINE"; exit; fi
    # A docker client with no daemon behind it (common in CI and sandboxes) cannot build.
    if command -v docker >/dev/null && docker info >/dev/null 2>&1; then echo docker
    elif command -v podman >/dev/null; then echo podman
    elif command -v buildah >/dev/null; then echo buildah
    else echo "no docker (with a running daemon), podman or buildah on PATH" >&2; exit 1
    fi

# The FROM scratch image, toss:VERSION, from the binary `just build` made (no registry needed).
image: build
    #!/usr/bin/env bash
    set -euo pipefail
    engine=$({{ just_executable() }} --justfile {{ justfile() }} _engine)
    echo "building toss:{{ version }} with $engine"
    args=(-f Dockerfile.scratch --build-arg VERSION={{ version }} -t toss:{{ version }} .)
    case $engine in
      docker) docker build "${args[@]}" ;;
      podman) podman build --format oci "${args[@]}" ;;
      # vfs and chroot isolation: no overlay mounts, no runc, no user namespaces needed
      # (the build has no RUN step), so it works in containers and sandboxes too.
      buildah) buildah --storage-driver vfs bud --isolation chroot --format oci "${args[@]}" ;;
      *) echo "unknown ENGINE $engine (docker, podman or buildah)" >&2; exit 1 ;;
    esac

# The image as an OCI archive, toss.tar, for `skopeo copy oci-archive:toss.tar docker://REGISTRY/toss:TAG`.
oci: image
    #!/usr/bin/env bash
    set -euo pipefail
    engine=$({{ just_executable() }} --justfile {{ justfile() }} _engine)
    rm -f toss.tar
    case $engine in
      buildah) buildah --storage-driver vfs push toss:{{ version }} oci-archive:toss.tar:toss:{{ version }} ;;
      podman) podman save --format oci-archive -o toss.tar toss:{{ version }} ;;
      # Docker 25 and later write an OCI image layout (index.json, blobs/) into `docker save`.
      docker) docker save -o toss.tar toss:{{ version }} ;;
    esac
    # An OCI archive has index.json at its top; older docker's save format does not.
    entries=$(tar -tf toss.tar)
    grep -qxE '(\./)?index\.json' <<<"$entries" \
      || { echo "toss.tar is not an OCI archive (no index.json): docker older than 25?" >&2; exit 1; }
    # Read it back the way the push will, where skopeo is at hand.
    if command -v skopeo >/dev/null; then
      skopeo inspect --config oci-archive:toss.tar >/dev/null
    fi
    echo "toss.tar: $(stat -c %s toss.tar) bytes, toss:{{ version }}"
    echo "push: skopeo copy oci-archive:toss.tar docker://REGISTRY/toss:{{ version }}"
