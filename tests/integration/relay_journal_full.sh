#!/bin/bash
#
# relay_journal_full.sh: the journal's file system fills up (a 256 KiB
# tmpfs mounted by the test) while calls change, then has room again.
#   - relayd keeps working and logs the failed write; `stats` counts the
#     failures (journal_errors) and says the journal is behind;
#   - while the file system is full the journal does not grow, however
#     many rounds and changes pass;
#   - once there is room, the journal catches up by itself: every line is
#     a whole JSON line (the write cut short by ENOSPC left no torn line
#     for the next one to be glued to), and after kill -9 the restarted
#     relay finds every call as it was last (a call created while the disk
#     was full included, a label changed then included).
#
set -u -o pipefail
# shellcheck source=../lib/netns.sh
. "$(dirname "$0")/../lib/netns.sh"

tl_init
command -v mount >/dev/null 2>&1 || tl_skip "mount not available"
MNT=$TL_TMP/jfs
mkdir -p "$MNT"
mount -t tmpfs -o size=256k,mode=0755 tmpfs "$MNT" 2>"$TL_TMP/mount.err" ||
	tl_skip "cannot mount a tmpfs here: $(cat "$TL_TMP/mount.err")"
# Unmount before the common teardown removes $TL_TMP (keeping its status).
trap 'rc=$?; umount -l "$MNT" 2>/dev/null; (exit $rc); tl_teardown' EXIT
LOG=$MNT/journal/journal.log

tl_netns_setup
tl_relayd_config "$TL_TMP/relayd.json" ".backend = \"userspace\" | .journal = \"$MNT/journal\" | .log_level = \"info\""
tl_relayd_start "$TL_TMP/relayd.json"

offer() {	# offer CALL PORT LABEL
	tl_rpc_ok "{\"cmd\":\"offer\",\"call_id\":\"$1\",\"from_tag\":\"ft-$1\",\"label\":\"$3\",\"interfaces\":[\"caller\",\"callee\"],\"media\":[{\"type\":\"audio\",\"address\":\"$TL_CALLER_IP\",\"rtp_port\":$2}]}" "offer $1 ($3)"
}
size() { stat -c %s "$LOG"; }

offer c1 4000 before
offer c2 4100 before
tl_wait_for 5 "the journal holds c1 and c2" grep -q '"call_id":"c2"' "$LOG"

# Fill the file system. The log's last page still has room: changes go
# on until a line fits only in part, and the write fails.
dd if=/dev/zero of="$MNT/filler" bs=4k >/dev/null 2>&1
tl_log "file system full; journal.log is $(size) bytes"
# (stats is one more loop round: the change's journal write is done.)
write_failed() { tl_rpc '{"cmd":"ping"}'; grep -q 'journal: writing .*No space left on device' "$TL_TMP/relayd.log"; }
for i in $(seq 1 40); do
	offer c1 4000 "filling-$i"
	write_failed && break
done
write_failed || tl_fail "40 changes on a full file system and no failed journal write logged (journal.log $(size) bytes)"
FULL=$(size)
offer c3 4200 "created-while-full"
offer c1 4000 "changed-while-full"
for i in $(seq 1 20); do offer c2 4100 "full-$i"; done
[ "$(size)" = "$FULL" ] || tl_fail "the journal changed from $FULL to $(size) bytes while the file system was full"
tl_rpc_ok '{"cmd":"stats"}' "stats while full"
STATS_FULL=$TL_REPLY
tl_log "full: journal.log still $FULL bytes after 20 more changes"

# Room again: the journal catches up by itself, in whole lines.
rm -f "$MNT/filler"
offer c2 4100 "after-the-full-disk"
caught_up() { grep -q 'after-the-full-disk' "$LOG"; }
tl_wait_for 60 "the journal catching up" caught_up
BAD=$(jq -R 'fromjson? // "bad" | select(. == "bad")' "$LOG" | wc -l)
[ "$BAD" = 0 ] || tl_fail "$BAD journal lines do not parse (torn or glued): $(jq -R 'select((fromjson? // null) == null)' "$LOG" | head -c 400)"
grep -q 'journal: .*rewritten with 3 sessions' "$TL_TMP/relayd.log" ||
	tl_fail "no log line for the recovery: $(grep journal "$TL_TMP/relayd.log")"

# A crash now: every call comes back as it was last.
kill -KILL "$TL_RELAYD_PID"
wait "$TL_RELAYD_PID" 2>/dev/null
TL_RELAYD_PID=
mv "$TL_TMP/relayd.log" "$TL_TMP/relayd-first.log"
tl_relayd_start "$TL_TMP/relayd.json"
grep -q "journal: restored 3 sessions" "$TL_TMP/relayd.log" ||
	tl_fail "not every call restored: $(grep journal "$TL_TMP/relayd.log")"
grep -q "not a session line" "$TL_TMP/relayd.log" && tl_fail "a torn journal line was found at the restart"
for c in c1:changed-while-full c2:after-the-full-disk c3:created-while-full; do
	tl_rpc_ok "{\"cmd\":\"query\",\"call_id\":\"${c%%:*}\"}" "query ${c%%:*}"
	tl_assert_json "$TL_REPLY" ".label == \"${c#*:}\"" "${c%%:*} restored with its last label"
done
# The failures were counted while the disk was full (the restarted relay
# starts from 0), and the journal was said to be behind.
tl_assert_json "$STATS_FULL" '.journal_errors >= 1 and .journal_behind == true' \
	"stats while the file system was full: journal_errors counted, journal_behind"
tl_relayd_stop
tl_pass
