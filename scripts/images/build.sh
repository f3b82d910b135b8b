#!/usr/bin/env bash
# Build the images the compose stack needs from a Debian mirror alone (no image registry), and
# write .env.offline and the compose override that make plain `docker compose ...` use them.
# Each image is tagged with a hash of its inputs; an image whose tag exists is not rebuilt.
# The images of the optional profiles (zabbix, bench) are built only when asked for: otherwise
# the override tells Compose how to build them on the first use of their profile.
set -euo pipefail

usage() {
  cat <<'USAGE'
usage: scripts/images/build.sh [--profile NAME]... [--all-profiles] [--install] [--no-app] [--list] [--refresh]
  Builds (or reuses) the zufang-offline/* images of the default stack and writes .env.offline at
  the repository root and .cache/images/compose.override.yaml (`make up` installs it as
  compose.override.yaml, so plain `docker compose ...` uses these images).
  --profile NAME  also build the images of compose profile NAME now (zabbix, bench); without it
                  Compose builds them on the first `docker compose --profile NAME ...`
  --all-profiles  every profile's images (CI, `make images-offline`)
  --install       what `make up` does with them: the override as compose.override.yaml, and the
                  app's image also under the name .env gives it (APP_IMAGE, what make deploy moves)
  The base image's tag covers the Date: of the $DEBIAN_SUITE-security and -updates indexes
  (InRelease), so a newer security suite gives a new base, and so new tags for every image.
  --no-app   skip the Rust builder and app images (everything else still builds)
  --list     print the image tags the current inputs map to, build nothing
  --refresh  (make images-refresh) the index dates must be fetched: fail instead of reusing the
             recorded ones when the mirror does not answer
Environment (defaults):
  DEBIAN_MIRROR=http://deb.debian.org/debian
  DEBIAN_SECURITY_MIRROR=http://deb.debian.org/debian-security
  DEBIAN_SUITE=bookworm
  OFFLINE_PREFIX=zufang-offline       repository part of every tag
  ENV_OFFLINE=.env.offline            file written (relative to the repository root)
  INDEX_TIMEOUT=10                    seconds to fetch each InRelease; on failure the dates last
                                      recorded in INDEX_DATES_FILE are reused
  INDEX_DATES_FILE=.cache/images/debian-index-dates
  ZUFANG_SECURITY_DATE, ZUFANG_UPDATES_DATE   use these index dates instead of fetching them
  IMAGE_BUILD_CPU_SHARES=             a background build: `docker build --cpu-shares N` (N >= 2)
                                      and nice 19 / lowest I/O priority for the host-side steps
  ZUFANG_IMAGES_LOCK=/tmp/zufang-images.lock   one build.sh at a time on this machine: a second
                                      one waits (printing who holds it), then reuses the images
USAGE
}
no_app=0 list=0 refresh=0 install=0
# The images only an optional compose profile uses; the rest is the default stack.
declare -A PROFILE_OF=([zabbix-server]=zabbix [zabbix-web]=zabbix [zabbix-agent2]=zabbix [bench]=bench)
declare -A WANT_PROFILE=()
want_next=0
for a in "$@"; do
  if (( want_next )); then
    [[ $a == zabbix || $a == bench ]] || { echo "build.sh: unknown profile $a (zabbix, bench)" >&2; exit 2; }
    WANT_PROFILE[$a]=1 want_next=0; continue
  fi
  case $a in
    --help|-h) usage; exit 0 ;;
    --profile) want_next=1 ;;
    --all-profiles) WANT_PROFILE[zabbix]=1 WANT_PROFILE[bench]=1 ;;
    --install) install=1 ;;
    --no-app) no_app=1 ;;
    --list) list=1 ;;
    --refresh) refresh=1 ;;
    *) echo "build.sh: unknown argument $a" >&2; usage >&2; exit 2 ;;
  esac
done
(( want_next )) && { echo "build.sh: --profile needs a name" >&2; exit 2; }

log() { printf '%s images: %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }

# One build at a time on this machine: a background pre-build, the suites' own calls and another
# checkout would otherwise build the same tags twice over on the same daemon (and prune each
# other's tags at the end). -o: the lock's descriptor must not live on in a dockerd that
# docker.sh starts, or the lock would never be released. --list builds nothing: no lock.
: "${ZUFANG_IMAGES_LOCK:=/tmp/zufang-images.lock}"
if (( ! list )) && [[ -z ${ZUFANG_IMAGES_LOCK_HELD:-} ]]; then
  if ! flock -o -n "$ZUFANG_IMAGES_LOCK" true; then
    waited=$SECONDS holder=$(cat "$ZUFANG_IMAGES_LOCK" 2>/dev/null || true)
    log "waiting for the image build already running on this machine (${holder:-holder unknown})"
    # A background build that a foreground one now waits for is no longer background work.
    bg_shares=/sys/fs/cgroup/cpu/zufang-images-background/cpu.shares
    if [[ -z ${IMAGE_BUILD_CPU_SHARES:-} && -w $bg_shares ]] && [[ $(cat "$bg_shares") != 1024 ]] \
        && echo 1024 > "$bg_shares"; then
      log "raised that build to the normal CPU weight"
    fi
    until flock -o -w 300 "$ZUFANG_IMAGES_LOCK" true; do log "still waiting after $((SECONDS - waited))s"; done
    log "that build ended after $((SECONDS - waited))s of waiting: its images are reused below"
  fi
  exec env ZUFANG_IMAGES_LOCK_HELD=1 flock -o "$ZUFANG_IMAGES_LOCK" "$0" "$@"
fi

root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
# Who holds the lock, for the waiting line above (flock locks the inode: rewriting the file
# does not release it).
(( list )) || printf 'pid %s in %s: build.sh %s, since %s\n' "$$" "$root" "$*" "$(date -u +%H:%M:%SZ)" \
  > "$ZUFANG_IMAGES_LOCK" 2>/dev/null || true
here=scripts/images
: "${DEBIAN_MIRROR:=http://deb.debian.org/debian}"
: "${DEBIAN_SECURITY_MIRROR:=http://deb.debian.org/debian-security}"
: "${DEBIAN_SUITE:=bookworm}"
: "${OFFLINE_PREFIX:=zufang-offline}"
: "${ENV_OFFLINE:=.env.offline}"
: "${INDEX_TIMEOUT:=10}"
: "${INDEX_DATES_FILE:=.cache/images/debian-index-dates}"
export DEBIAN_MIRROR DEBIAN_SECURITY_MIRROR DEBIAN_SUITE
# The classic builder works with every client/daemon pair this supports (Docker 28 CLI without
# buildx, Debian's 20.10 engine); BuildKit would need the buildx plugin with the newer CLI.
export DOCKER_BUILDKIT=0

# hash_inputs STRING... -- PATH...: a short hash of the strings and the content of every file
# under the paths (names included, so renames count), ignoring git-ignored files.
hash_inputs() {
  local strings=() paths=()
  while (( $# )); do [[ $1 == -- ]] && { shift; paths=("$@"); break; }; strings+=("$1"); shift; done
  {
    printf '%s\n' "${strings[@]}"
    git ls-files -co --exclude-standard -- "${paths[@]}" | LC_ALL=C sort | while read -r f; do
      [[ -f $f ]] && { printf '%s\n' "$f"; sha256sum < "$f"; }
    done
  } | sha256sum | cut -c1-16
}

have_image() { docker image inspect "$1" >/dev/null 2>&1; }

# A background build (make test's pre-build) yields the CPU to the suites running beside it:
# the docker CLI's own niceness never reaches the build containers, a --cpu-shares weight does
# (classic builder; see the cgroup parent below); the host-side steps (debootstrap, cargo vendor, the Garage context) run at
# nice 19 and the lowest best-effort I/O priority.
: "${IMAGE_BUILD_CPU_SHARES:=}"
shares=() low=()
if [[ -n $IMAGE_BUILD_CPU_SHARES ]]; then
  if [[ ! $IMAGE_BUILD_CPU_SHARES =~ ^[0-9]+$ ]] || (( IMAGE_BUILD_CPU_SHARES < 2 )); then
    echo "build.sh: IMAGE_BUILD_CPU_SHARES must be an integer >= 2 (docker's minimum), not '$IMAGE_BUILD_CPU_SHARES'" >&2; exit 2
  fi
  shares=(--cpu-shares "$IMAGE_BUILD_CPU_SHARES") low=(nice -n 19 ionice -c 2 -n 7)
fi

declare -A TAG
built=() reused=() deferred=()

# build NAME HASH DOCKER_BUILD_ARGS...: build unless the tag exists.
build() {
  local name=$1 hash=$2; shift 2
  local tag="$OFFLINE_PREFIX/$name:$hash"
  TAG[$name]=$tag
  (( list )) && { echo "$tag"; return; }
  if have_image "$tag"; then reused+=("$name"); return; fi
  local profile=${PROFILE_OF[$name]:-}
  if [[ -n $profile && -z ${WANT_PROFILE[$profile]:-} ]]; then deferred+=("$name"); return; fi
  log "building $tag"
  local t0=$SECONDS logf=".cache/images/$name.log" label=(--label "org.zufang.inputs-hash=$hash")
  # A label adds a layer whose id changes with the hash: on a parent image (the Rust builder) it
  # would make every child build miss the layer cache, so the builder goes without.
  [[ $name == rust ]] && label=()
  mkdir -p .cache/images
  # --network host: package downloads use the host's resolver and routes, not the bridge NAT.
  if ! docker build --network host "${shares[@]}" "${label[@]}" -t "$tag" "$@" > "$logf" 2>&1; then
    log "FAILED: $name (last lines of $logf):"; tail -n 40 "$logf" >&2; exit 1
  fi
  built+=("$name")
  log "built $tag in $((SECONDS - t0))s"
}

# index_date SUITE URL: the Date: line of the suite's InRelease, the moment the archive last
# published it. Empty when the mirror does not answer within INDEX_TIMEOUT.
index_date() {
  local body
  body=$(curl -fsS --max-time "$INDEX_TIMEOUT" "$2/dists/$1/InRelease" 2>/dev/null) || return 0
  sed -n 's/^Date: //p' <<<"$body" | head -n 1
}

# The dates the base is built for: fetched (and recorded), else the recorded ones with a warning,
# so that an offline build reuses its images instead of failing or rebuilding everything.
dates_file=$INDEX_DATES_FILE
declare -A DATE
for kind in security updates; do
  if [[ $kind == security ]]; then suite=$DEBIAN_SUITE-security url=$DEBIAN_SECURITY_MIRROR override=${ZUFANG_SECURITY_DATE:-}
  else suite=$DEBIAN_SUITE-updates url=$DEBIAN_MIRROR override=${ZUFANG_UPDATES_DATE:-}; fi
  recorded=""
  [[ -f $dates_file ]] && recorded=$(awk -v s="$suite" -v u="$url" \
    '$1 == s && $2 == u { $1 = $2 = ""; sub(/^  /, ""); r = $0 } END { print r }' "$dates_file")
  if [[ -n $override ]]; then DATE[$kind]=$override; continue; fi
  fetched=$(index_date "$suite" "$url")
  if [[ -n $fetched ]]; then
    DATE[$kind]=$fetched
    if [[ $fetched != "$recorded" ]]; then
      mkdir -p "$(dirname "$dates_file")"
      { if [[ -f $dates_file ]]; then grep -v -F "$suite $url " "$dates_file" || true; fi
        echo "$suite $url $fetched"; } > "$dates_file.tmp"
      mv "$dates_file.tmp" "$dates_file"
    fi
  elif (( refresh )); then
    log "cannot fetch $url/dists/$suite/InRelease within ${INDEX_TIMEOUT}s: nothing refreshed"; exit 1
  elif [[ -n $recorded ]]; then
    log "WARNING: $url/dists/$suite/InRelease unreachable: reusing the recorded date ($recorded); run \`make images-refresh\` once online for newer security updates"
    DATE[$kind]=$recorded
  else
    log "WARNING: $url/dists/$suite/InRelease unreachable and no date recorded in $dates_file: the base is keyed as 'unknown'"
    DATE[$kind]=unknown
  fi
done
log "Debian indexes: $DEBIAN_SUITE-security ${DATE[security]}; $DEBIAN_SUITE-updates ${DATE[updates]}"

(( list )) || "$root/scripts/ci/docker.sh" >&2

# On cgroup v1 with Docker's cgroupfs driver (this CI), --cpu-shares only weighs a build container
# against the other containers: the /docker group as a whole still weighs as much as one busy
# host process, and the suites run on the host, so a 2-job compile would take a third of their
# CPU. A parent cgroup of its own at the low weight puts the whole build below them.
if [[ -n $IMAGE_BUILD_CPU_SHARES ]] && (( ! list )) && [[ -w /sys/fs/cgroup/cpu ]] \
    && [[ $(docker info -f '{{.CgroupDriver}} {{.CgroupVersion}}' 2>/dev/null) == "cgroupfs 1" ]]; then
  bg=zufang-images-background  # also named in the lock wait above
  if mkdir -p "/sys/fs/cgroup/cpu/$bg" && echo "$IMAGE_BUILD_CPU_SHARES" > "/sys/fs/cgroup/cpu/$bg/cpu.shares"; then
    shares+=(--cgroup-parent "/$bg")
    log "background build: docker builds in cgroup /$bg at cpu.shares $IMAGE_BUILD_CPU_SHARES"
  fi
fi

# 1) The Debian base: debootstrap, upgraded from -updates and -security, + docker import. Its
#    tag covers the index dates; every other tag covers the base tag.
base_hash=$(hash_inputs "$DEBIAN_MIRROR" "$DEBIAN_SECURITY_MIRROR" "$DEBIAN_SUITE" \
  "security ${DATE[security]}" "updates ${DATE[updates]}" -- "$here/base")
TAG[debian]="$OFFLINE_PREFIX/debian:$DEBIAN_SUITE-$base_hash"
if (( list )); then echo "${TAG[debian]}"
elif have_image "${TAG[debian]}"; then reused+=(debian)
else
  log "building ${TAG[debian]} with debootstrap"
  t0=$SECONDS
  "${low[@]}" "$here/base/mkrootfs.sh" "${TAG[debian]}"
  built+=(debian)
  log "built ${TAG[debian]} in $((SECONDS - t0))s"
fi
base=${TAG[debian]}

# Garage, the object store (scripts/images/garage): compiled from its crates.io release with
# Debian's rustc; its context (the crate + its vendored dependencies) is made on the host only when
# the image has to be built. Keyed by the base and the recipe's three files (not its README, not
# the app's Cargo.lock: ~15 min of compile each time the key moves).
build_garage() {
  local hash ctx=.cache/images/garage-ctx features
  hash=$(hash_inputs "$base" -- "$here/garage/Dockerfile" "$here/garage/crate.env" "$here/garage/fetch.sh")
  if (( ! list )) && ! have_image "$OFFLINE_PREFIX/garage:$hash"; then
    log "fetching the Garage crate and its dependencies into $ctx"
    "${low[@]}" "$here/garage/fetch.sh" "$ctx" || exit 1
  fi
  features=$(sed -n 's/^GARAGE_FEATURES=//p' "$here/garage/crate.env")
  build garage "$hash" --build-arg "BASE_IMAGE=$base" --build-arg "GARAGE_FEATURES=$features" \
    -f "$here/garage/Dockerfile" "$ctx"
}

# The Rust builder (Debian's rustc + crates vendored on the host) and the app: the long,
# CPU-bound chain. It runs in the background while the service images (mostly downloads) build.
app_pid=""
if (( ! no_app )); then
  rust_hash=$(hash_inputs "$base" -- "$here/rust" Cargo.lock)
  if (( ! list )) && ! have_image "$OFFLINE_PREFIX/rust:$rust_hash"; then
    command -v cargo >/dev/null || { echo "build.sh: cargo is needed on the host to vendor crates" >&2; exit 1; }
    # Re-vendor only when Cargo.lock changed: fresh copies would have new timestamps and miss
    # the COPY layer cache of the builder image.
    lock_hash=$(sha256sum Cargo.lock | cut -c1-16)
    if [[ $(cat .cache/vendor/.zufang-lock-hash 2>/dev/null) != "$lock_hash" ]]; then
      log "vendoring crates of Cargo.lock into .cache/vendor (host network)"
      rm -rf .cache/vendor
      "${low[@]}" cargo vendor --locked --versioned-dirs .cache/vendor > .cache/vendor.log 2>&1 \
        || { tail -n 20 .cache/vendor.log >&2; exit 1; }
      echo "$lock_hash" > .cache/vendor/.zufang-lock-hash
    fi
  fi
  rust_tag="$OFFLINE_PREFIX/rust:$rust_hash"
  app_hash=$(hash_inputs "$rust_tag" "$base" -- Cargo.toml Cargo.lock app tests/Cargo.toml bench/openloop/Cargo.toml .dockerignore)
  if (( list )); then
    build rust "$rust_hash"; build app "$app_hash"
  else
    TAG[rust]=$rust_tag TAG[app]="$OFFLINE_PREFIX/app:$app_hash"
    (
      build rust "$rust_hash" --build-arg "BASE_IMAGE=$base" -f "$here/rust/Dockerfile" .cache/vendor
      build app "$app_hash" --build-arg "RUST_IMAGE=$rust_tag" --build-arg "BASE_IMAGE=$base" \
        --build-arg "VERSION=$(git describe --always --dirty 2>/dev/null || echo dev)" \
        --build-arg "GIT_SHA=$(git rev-parse HEAD 2>/dev/null || echo unknown)" -f app/Dockerfile .
      build_garage
    ) &
    app_pid=$!
  fi
fi
(( no_app && ! list )) && { build_garage & app_pid=$!; }
(( list )) && build_garage

# 2) Services from Debian packages, same environment/volume contract as the official images.
for svc in mariadb redis rabbitmq prometheus alertmanager otel-collector; do
  build "$svc" "$(hash_inputs "$base" -- "$here/$svc")" \
    --build-arg "BASE_IMAGE=$base" -f "$here/$svc/Dockerfile" "$here/$svc"
done
# The backup service: FROM the MariaDB image just built (mariadb-backup must match the server).
build backup "$(hash_inputs "${TAG[mariadb]}" -- "$here/backup")" \
  --build-arg "MYSQL_IMAGE=${TAG[mariadb]}" -f "$here/backup/Dockerfile" "$here/backup"
exp_hash=$(hash_inputs "$base" -- "$here/exporters")
for e in node-exporter mysqld-exporter redis-exporter nginx-exporter blackbox-exporter; do
  build "$e" "$exp_hash" --build-arg "BASE_IMAGE=$base" --target "$e" \
    -f "$here/exporters/Dockerfile" "$here/exporters"
done

# Zabbix 6.0 from Debian's packages (profile `zabbix`): server, web front end, agent 2.
zbx=monitoring/zabbix/images
build zabbix-server "$(hash_inputs "$base" -- "$zbx/Dockerfile" "$zbx/server-entrypoint.sh")" \
  --build-arg "BASE_IMAGE=$base" --target zabbix-server -f "$zbx/Dockerfile" "$zbx"
build zabbix-web "$(hash_inputs "$base" -- "$zbx/Dockerfile" "$zbx/web-entrypoint.sh" "$zbx/httpd.conf" "$zbx/zabbix.conf.php")" \
  --build-arg "BASE_IMAGE=$base" --target zabbix-web -f "$zbx/Dockerfile" "$zbx"
build zabbix-agent2 "$(hash_inputs "$base" -- "$zbx/agent2.Dockerfile" monitoring/zabbix/agent2)" \
  --build-arg "BASE_IMAGE=$base" -f "$zbx/agent2.Dockerfile" monitoring/zabbix/agent2

# The load generator of the `bench` profile (sysbench, wrk, mariadb-client, matplotlib); its
# context is bench/image alone (the scripts are mounted at run time, not built in).
build bench "$(hash_inputs "$base" -- bench/image)" --build-arg "BASE_IMAGE=$base" \
  -f bench/image/Dockerfile bench/image

# 3) The edge proxy (nginx + keepalived), context = repository root (see .dockerignore).
build edge "$(hash_inputs "$base" -- nginx scripts/tls/make-dev-cert.sh .dockerignore)" \
  --build-arg "BASE_IMAGE=$base" -f nginx/Dockerfile .

if [[ -n $app_pid ]]; then
  (( no_app )) || have_image "${TAG[app]}" || log "waiting for the app image (log: .cache/images/app.log)"
  wait "$app_pid" || { log "the Rust builds (builder, app, Garage) failed"; exit 1; }
  (( no_app )) || have_image "${TAG[app]}" || { log "no ${TAG[app]} after the build"; exit 1; }
  TAG[garage]="$OFFLINE_PREFIX/garage:$(hash_inputs "$base" -- "$here/garage/Dockerfile" "$here/garage/crate.env" "$here/garage/fetch.sh")"
  have_image "${TAG[garage]}" || { log "no ${TAG[garage]} after the build"; exit 1; }
fi
(( list )) && exit 0

# 4) .env.offline: .env with every image variable pointing at the offline tags, and the
#    profiles that need images Debian does not package (Grafana, Jaeger) left out.
declare -A VAR=(
  [BASE_IMAGE]=debian [MYSQL_IMAGE]=mariadb [BACKUP_IMAGE]=backup [REDIS_IMAGE]=redis [RABBITMQ_IMAGE]=rabbitmq
  [GARAGE_IMAGE]=garage
  [PROMETHEUS_IMAGE]=prometheus
  [ALERTMANAGER_IMAGE]=alertmanager [OTEL_COLLECTOR_IMAGE]=otel-collector
  [NODE_EXPORTER_IMAGE]=node-exporter [MYSQLD_EXPORTER_IMAGE]=mysqld-exporter
  [REDIS_EXPORTER_IMAGE]=redis-exporter [NGINX_EXPORTER_IMAGE]=nginx-exporter
  [BLACKBOX_EXPORTER_IMAGE]=blackbox-exporter [EDGE_IMAGE]=edge [APP_IMAGE]=app [RUST_IMAGE]=rust [BENCH_IMAGE]=bench
  [ZABBIX_SERVER_IMAGE]=zabbix-server [ZABBIX_WEB_IMAGE]=zabbix-web [ZABBIX_AGENT2_IMAGE]=zabbix-agent2
)
tmp=$(mktemp)
{
  echo "# Generated by scripts/images/build.sh on $(date -u +%Y-%m-%dT%H:%M:%SZ): images built from"
  echo "# $DEBIAN_MIRROR alone. Use: docker compose --env-file $ENV_OFFLINE up -d --wait"
  echo "# Debian indexes the base was upgraded to: $DEBIAN_SUITE-security ${DATE[security]}; $DEBIAN_SUITE-updates ${DATE[updates]}"
  while IFS= read -r line; do
    key=${line%%=*}
    if [[ $line =~ ^[A-Z0-9_]+_IMAGE= && -n ${VAR[$key]:-} && -n ${TAG[${VAR[$key]}]:-} ]]; then
      echo "$key=${TAG[${VAR[$key]}]}"
    elif [[ $key == COMPOSE_PROFILES ]]; then
      echo "# Grafana and the Jaeger UI are not packaged by Debian: their profile stays off."
      echo "COMPOSE_PROFILES=offline"
    else
      echo "$line"
    fi
  done < .env
} > "$tmp"
mv "$tmp" "$ENV_OFFLINE"

# 5) The override: compose.yaml rendered with .env.offline gives every service's offline image;
#    the Zabbix server and web images (official ones online) get the recipe used above, so that
#    Compose can build a deferred one. Rendered from compose.yaml alone (-f), never over an
#    override already in place.
override=.cache/images/compose.override.yaml
hash_of() { local t=${TAG[$1]}; echo "${t##*:}"; }
docker compose -f compose.yaml --env-file "$ENV_OFFLINE" --profile '*' config --format json \
  | python3 "$here/compose_override.py" --base-image "$base" --app-image "${TAG[app]:-none}" \
      --build "zabbix-server=$zbx,$zbx/Dockerfile,zabbix-server,$(hash_of zabbix-server)" \
      --build "zabbix-web=$zbx,$zbx/Dockerfile,zabbix-web,$(hash_of zabbix-web)" \
      --registry-only grafana --registry-only jaeger > "$override.tmp"
mv "$override.tmp" "$override"
if (( install )); then
  cp "$override" compose.override.yaml
  [[ -n ${TAG[app]:-} ]] && docker tag "${TAG[app]}" "$(sed -n 's/^APP_IMAGE=//p' .env | tail -n 1)"
  log "installed compose.override.yaml: plain \`docker compose ...\` uses these images"
fi
log "built: ${built[*]:-none}; reused: ${reused[*]:-none}; deferred to first use of their profile: ${deferred[*]:-none}; wrote $ENV_OFFLINE and $override"

# Older tags of the same images only take disk space: drop them (an image a container still
# uses stays, docker refuses to remove it).
current=" ${TAG[*]} "
docker image ls --format '{{.Repository}}:{{.Tag}}' "$OFFLINE_PREFIX/*" | while read -r old; do
  name=${old#"$OFFLINE_PREFIX/"}; name=${name%%:*}
  [[ -n ${TAG[$name]:-} && $current != *" $old "* ]] || continue
  docker image rm "$old" >/dev/null 2>&1 || true
done
