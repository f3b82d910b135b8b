# Offline Zabbix agent 2 (6.0 LTS, Debian bookworm's package) carrying this repository's agent
# configuration: monitoring/zabbix/agent2 (zabbix_agent2.conf, plugin sessions, UserParameters and
# their scripts, render-secrets.sh). Build context: monitoring/zabbix/agent2, so a change there
# makes a new image.
#   docker build -f monitoring/zabbix/images/agent2.Dockerfile --build-arg BASE_IMAGE=<tag> monitoring/zabbix/agent2
# At start, render-secrets.sh writes the MySQL/Redis plugin passwords from the secret files in
# $ZBX_SECRETS_DIR (zabbix_mysql_password, redis_password) into /run/zabbix/agent2.d (0600),
# then the agent runs in the foreground as uid 1997.
ARG BASE_IMAGE=debian:bookworm
FROM ${BASE_IMAGE}
# curl: the app probes (scripts/app-probe.sh); python3 (standard library only): the compose
# profile's one-shot zabbix-init runs monitoring/zabbix/zabbix_init.py in this image, with the
# repository's one Zabbix API client (zabbix_api.py); bash is in the base.
# hadolint ignore=DL3008
RUN groupadd -r -g 1997 zabbix && useradd -r -u 1997 -g zabbix -d /var/lib/zabbix -s /usr/sbin/nologin zabbix \
 && apt-get update \
 && apt-get install -y --no-install-recommends zabbix-agent2 curl python3 ca-certificates \
 && rm -rf /var/lib/apt/lists/* /etc/zabbix/zabbix_agent2.d/plugins.d \
 && mkdir -p /run/zabbix /usr/local/lib/zufang-zabbix \
 && chown zabbix:zabbix /run/zabbix
# The package's plugins.d/*.conf (removed above) are only commented defaults; ours replace them.
COPY zabbix_agent2.conf /etc/zabbix/zabbix_agent2.conf
COPY zabbix_agent2.d/*.conf /etc/zabbix/zabbix_agent2.d/
COPY scripts/*.sh render-secrets.sh /usr/local/lib/zufang-zabbix/
USER 1997:1997
WORKDIR /var/lib/zabbix
EXPOSE 10050
ENTRYPOINT ["bash", "-c", "/usr/local/lib/zufang-zabbix/render-secrets.sh \"${ZBX_SECRETS_DIR:-/run/secrets}\" /run/zabbix/agent2.d && exec zabbix_agent2 -f -c /etc/zabbix/zabbix_agent2.conf \"$@\"", "zabbix-agent2"]
