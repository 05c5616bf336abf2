# Trunkline top-level Makefile.
#
#   make            build everything into build/
#   make check      build, then the ASan/UBSan build, then run every test
#   make install    install binaries, man pages, units and default configs
#   make demo       run the relay demo (needs root: network namespaces)
#
# A second tree, build/asan/, holds the sanitizer build used by the tests;
# it is the same sources with SAN=1 and its own BUILD directory.

PREFIX	?= /usr/local
DESTDIR	?=
SYSCONFDIR ?= /etc
UNITDIR	?= /lib/systemd/system

BUILD	?= build
VERSION	:= 0.1.0
SAN	?= 0

CC	?= cc
PKGS	:= jansson libmnl libnftnl libnetfilter_conntrack sofia-sip-ua libssl libcrypto libsrtp2
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS_RELAY := $(shell pkg-config --libs jansson libmnl libnftnl libnetfilter_conntrack 2>/dev/null)
# WebRTC legs (relayd/dtls.c, srtp.c, stun.c): relayd only.
PKG_LIBS_RELAY += $(shell pkg-config --libs libssl libcrypto libsrtp2 2>/dev/null)
PKG_LIBS_PROTO := $(shell pkg-config --libs jansson 2>/dev/null)

CFLAGS	?= -O2 -g
WARN	:= -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
	   -Wno-unused-parameter
CPPFLAGS += -D_GNU_SOURCE -DTRUNKLINE_VERSION=\"$(VERSION)\" -Iproto -Irelayd -Ikmod $(PKG_CFLAGS)
ifeq ($(SAN),1)
CFLAGS	+= -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
LDFLAGS	+= -fsanitize=address,undefined
endif
ALL_CFLAGS = $(CFLAGS) $(WARN) $(CPPFLAGS) -MMD -MP

PROTO_SRC  := $(filter-out proto/fuzz_%.c,$(wildcard proto/*.c))
RELAYD_SRC := $(filter-out relayd/main.c relayd/fuzz_%.c,$(wildcard relayd/*.c))
CTL_SRC    := $(wildcard ctl/*.c)
UNIT_SRC   := $(wildcard tests/unit/test_*.c)
TOOL_SRC   := $(wildcard tests/tools/*.c)

PROTO_OBJ  := $(PROTO_SRC:%.c=$(BUILD)/%.o)
RELAYD_OBJ := $(RELAYD_SRC:%.c=$(BUILD)/%.o)
CTL_OBJ    := $(CTL_SRC:%.c=$(BUILD)/%.o)
UNIT_BIN   := $(UNIT_SRC:tests/unit/%.c=$(BUILD)/tests/%)
TOOL_BIN   := $(TOOL_SRC:tests/tools/%.c=$(BUILD)/tools/%)

BINS := $(BUILD)/trunkline-relayd $(BUILD)/trunklinectl

# ---- trunkline-controller (Sofia-SIP). Sofia's headers are not clean
# under our warnings: -isystem for them (it overrides the -I above).
CTLD_SRC   := $(filter-out controller/main.c controller/fuzz_%.c,$(wildcard controller/*.c))
CTLD_OBJ   := $(CTLD_SRC:%.c=$(BUILD)/%.o)
SOFIA_CFLAGS := $(patsubst -I%,-isystem %,$(shell pkg-config --cflags sofia-sip-ua 2>/dev/null))
SOFIA_LIBS := $(shell pkg-config --libs sofia-sip-ua 2>/dev/null)
# web.c: libwebsockets on a libuv loop (the WebRTC gateway's listener)
WEB_LIBS := $(shell pkg-config --libs libwebsockets libuv 2>/dev/null)
BINS += $(BUILD)/trunkline-controller
$(BUILD)/controller/%.o: ALL_CFLAGS += $(SOFIA_CFLAGS)
$(BUILD)/tests/unit/test_ctl_%.o: ALL_CFLAGS += $(SOFIA_CFLAGS) -Icontroller

# Keep objects of unit tests and tools: they are intermediates of pattern rules.
.SECONDARY:

.PHONY: all check unit-bins tools install demo clean asan deps fuzz bench-smoke
.PHONY: install-controller install-web demo-sip demo-relay fuzz-sdp
all: $(BINS) $(TOOL_BIN) $(UNIT_BIN)

# ---- kmod: trunkline.ko (kmod/Makefile, Kbuild) and its test tool ----
# The headers are found in /usr/src (never `uname -r`); without them
# `make` says so and goes on, `make kmod` fails.
KMOD_KDIR := $(shell for d in /usr/src/linux-headers-*-amd64; do \
	[ -f $$d/Makefile ] && echo $$d; done | sort -V | tail -n 1)
.PHONY: kmod kmod-auto kmod-clean
kmod:
	$(MAKE) -C kmod KDIR=$(KMOD_KDIR)
kmod-auto:
ifeq ($(KMOD_KDIR),)
	@echo "kmod: no kernel headers in /usr/src (linux-headers-amd64): trunkline.ko not built"
else
	@$(MAKE) --no-print-directory -C kmod KDIR=$(KMOD_KDIR)
endif
kmod-clean:
	@$(MAKE) --no-print-directory -C kmod clean KDIR=$(KMOD_KDIR)
ifeq ($(SAN),0)
all: kmod-auto
endif
all: $(BUILD)/kmod-tools/tlk $(BUILD)/kmod-tools/kadopt $(BUILD)/kmod-tools/offerhold
$(BUILD)/kmod-tools/offerhold: $(BUILD)/tests/kmod/tools/offerhold.o
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^
$(BUILD)/kmod-tools/tlk: $(BUILD)/tests/kmod/tools/tlk.o
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(shell pkg-config --libs libmnl 2>/dev/null || echo -lmnl)
$(BUILD)/kmod-tools/kadopt: $(BUILD)/tests/kmod/tools/kadopt.o $(BUILD)/librelayd.a $(BUILD)/libproto.a
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(PKG_LIBS_RELAY) -lm

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -c -o $@ $<

$(BUILD)/libproto.a: $(PROTO_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/librelayd.a: $(RELAYD_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/trunkline-relayd: $(BUILD)/relayd/main.o $(BUILD)/librelayd.a $(BUILD)/libproto.a
	$(CC) $(LDFLAGS) -o $@ $^ $(PKG_LIBS_RELAY) -lm

$(BUILD)/trunklinectl: $(CTL_OBJ) $(BUILD)/libproto.a
	$(CC) $(LDFLAGS) -o $@ $^ $(PKG_LIBS_PROTO)

$(BUILD)/libcontroller.a: $(CTLD_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/trunkline-controller: $(BUILD)/controller/main.o $(BUILD)/libcontroller.a $(BUILD)/libproto.a
	$(CC) $(LDFLAGS) -o $@ $^ $(SOFIA_LIBS) $(WEB_LIBS) $(PKG_LIBS_PROTO) -lm

# Controller unit tests (test_ctl_*) link the controller's objects.
$(BUILD)/tests/test_ctl_%: $(BUILD)/tests/unit/test_ctl_%.o $(BUILD)/libcontroller.a $(BUILD)/libproto.a
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ -lcmocka $(SOFIA_LIBS) $(WEB_LIBS) $(PKG_LIBS_PROTO) -lm

# Unit tests link against the daemon's objects (all but main) and cmocka.
$(BUILD)/tests/%: $(BUILD)/tests/unit/%.o $(BUILD)/librelayd.a $(BUILD)/libproto.a
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ -lcmocka $(PKG_LIBS_RELAY) -lm

# Test tools are single-file programs with no library dependencies.
$(BUILD)/tools/%: $(BUILD)/tests/tools/%.o
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ -lm

asan:
	$(MAKE) BUILD=build/asan SAN=1 all

# libFuzzer target for the protocol parser (clang only; skipped otherwise).
fuzz:
	@if command -v clang >/dev/null 2>&1; then \
		mkdir -p build/fuzz && \
		clang -g -O1 -fsanitize=fuzzer,address,undefined $(WARN) -D_GNU_SOURCE -Iproto \
			$(PKG_CFLAGS) -o build/fuzz/fuzz_proto proto/fuzz_proto.c $(PROTO_SRC) \
			$(PKG_LIBS_PROTO); \
	else echo "fuzz: clang not found, fuzz target not built"; fi

# The three builds with one job per core even without -j (about half the
# build time of make check on two cores), then the tests.
check:
	@$(MAKE) --no-print-directory -j$$(nproc) all asan fuzz
	@tests/run.sh

deps:
	scripts/install-deps.sh

# The main demo: a full SIP call through controller and relay.
demo: all
	scripts/demo-sip.sh

# The relay alone carrying RTP between two network namespaces.
demo-relay: all
	scripts/demo.sh

# A kept config that others can read may leak its secrets: say so.
warn_readable = if [ -n "$$(find $(1) -perm /077 2>/dev/null)" ]; then \
	echo "warning: $(1) is readable by others and may hold secrets: chmod 600 it"; fi

install: $(BINS)
	install -d $(DESTDIR)$(PREFIX)/sbin $(DESTDIR)$(PREFIX)/bin
	install -m 0755 $(BUILD)/trunkline-relayd $(DESTDIR)$(PREFIX)/sbin/
	install -m 0755 $(BUILD)/trunklinectl $(DESTDIR)$(PREFIX)/bin/
	install -d $(DESTDIR)$(PREFIX)/share/man/man5 $(DESTDIR)$(PREFIX)/share/man/man8
	install -m 0644 relayd/trunkline-relayd.8 ctl/trunklinectl.8 $(DESTDIR)$(PREFIX)/share/man/man8/
	install -m 0644 relayd/trunkline-relayd.conf.5 $(DESTDIR)$(PREFIX)/share/man/man5/
	install -d $(DESTDIR)$(UNITDIR)
	sed 's|@SBINDIR@|$(PREFIX)/sbin|g' etc/trunkline-relayd.service.in \
		> $(DESTDIR)$(UNITDIR)/trunkline-relayd.service
	install -d $(DESTDIR)$(SYSCONFDIR)/trunkline
	@# 0600: the config holds the TCP control secret (the daemon runs as root)
	@if [ ! -e $(DESTDIR)$(SYSCONFDIR)/trunkline/relayd.json ]; then \
		install -m 0600 etc/relayd.json $(DESTDIR)$(SYSCONFDIR)/trunkline/relayd.json; \
	else echo "keeping existing $(DESTDIR)$(SYSCONFDIR)/trunkline/relayd.json"; \
		$(call warn_readable,$(DESTDIR)$(SYSCONFDIR)/trunkline/relayd.json); fi

# The controller's files (its own rule, so that merges stay simple).
install: install-controller
install-controller: $(BUILD)/trunkline-controller
	install -d $(DESTDIR)$(PREFIX)/sbin $(DESTDIR)$(PREFIX)/share/man/man5 $(DESTDIR)$(PREFIX)/share/man/man8
	install -m 0755 $(BUILD)/trunkline-controller $(DESTDIR)$(PREFIX)/sbin/
	install -m 0644 controller/trunkline-controller.8 $(DESTDIR)$(PREFIX)/share/man/man8/
	install -m 0644 controller/trunkline-controller.conf.5 $(DESTDIR)$(PREFIX)/share/man/man5/
	install -d $(DESTDIR)$(UNITDIR) $(DESTDIR)$(SYSCONFDIR)/trunkline
	sed 's|@SBINDIR@|$(PREFIX)/sbin|g' etc/trunkline-controller.service.in \
		> $(DESTDIR)$(UNITDIR)/trunkline-controller.service
	@# 0600: relay secrets and account passwords
	@if [ ! -e $(DESTDIR)$(SYSCONFDIR)/trunkline/controller.json ]; then \
		install -m 0600 etc/controller.json $(DESTDIR)$(SYSCONFDIR)/trunkline/controller.json; \
	else echo "keeping existing $(DESTDIR)$(SYSCONFDIR)/trunkline/controller.json"; \
		$(call warn_readable,$(DESTDIR)$(SYSCONFDIR)/trunkline/controller.json); fi

# The web phone the controller's web listener serves (web.root's default).
install: install-web
install-web:
	install -d $(DESTDIR)$(PREFIX)/share/trunkline/web
	install -m 0644 web/index.html web/phone.js web/phone.css $(DESTDIR)$(PREFIX)/share/trunkline/web/

# libFuzzer target for the controller's SDP parsing and rewriting.
fuzz: fuzz-sdp
fuzz-sdp:
	@if command -v clang >/dev/null 2>&1; then \
		mkdir -p build/fuzz && \
		clang -g -O1 -fsanitize=fuzzer,address,undefined $(WARN) -D_GNU_SOURCE \
			-DTRUNKLINE_VERSION=\"$(VERSION)\" -Iproto -Icontroller $(SOFIA_CFLAGS) \
			$(shell pkg-config --cflags jansson 2>/dev/null) \
			-o build/fuzz/fuzz_sdp controller/fuzz_sdp.c controller/sdp.c \
			$(SOFIA_LIBS) $(PKG_LIBS_PROTO); \
	else echo "fuzz-sdp: clang not found, fuzz target not built"; fi

# bench/webrtc: a fast WebRTC peer for the SRTP cost bench; it links
# relayd's own stun.c/dtls.c/srtp.c.
all: $(BUILD)/tools/webrtc_blast
$(BUILD)/tools/webrtc_blast: $(BUILD)/bench/webrtc/webrtc_blast.o $(BUILD)/librelayd.a $(BUILD)/libproto.a
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(PKG_LIBS_RELAY) -lm

# libFuzzer target for relayd's STUN parser (ICE-lite, relayd/stun.c).
.PHONY: fuzz-stun
fuzz: fuzz-stun
fuzz-stun:
	@if command -v clang >/dev/null 2>&1; then \
		mkdir -p build/fuzz && \
		clang -g -O1 -fsanitize=fuzzer,address,undefined $(WARN) -D_GNU_SOURCE \
			-Iproto -Irelayd $(PKG_CFLAGS) \
			-o build/fuzz/fuzz_stun relayd/fuzz_stun.c relayd/stun.c proto/addr.c \
			$(PKG_LIBS_RELAY); \
	else echo "fuzz-stun: clang not found, fuzz target not built"; fi

# A full SIP call through the controller and the relay (needs sipp).
demo-sip: all
	scripts/demo-sip.sh

clean: kmod-clean
	rm -rf build

-include $(shell find $(BUILD) -name '*.d' -type f 2>/dev/null)

# Benchmarks (bench/, issue 7): installs the bench packages if missing
# (scripts/install-bench-deps.sh), then bench/run.sh writes
# bench/results/<date>-<host>.{json,md,-pps.png,-cpu.png} and README's
# Benchmarks section. BENCH_ARGS=--quick (1 min) or --long (20 min).
.PHONY: bench
bench: all
	scripts/install-bench-deps.sh
	BUILD=$(BUILD) bench/run.sh $(BENCH_ARGS)

# bench/offerload: the offer+answer load client (pipelined requests over
# the control protocol; bench/offer-rate.sh runs it against relayd).
all: $(BUILD)/tools/offerload
$(BUILD)/tools/offerload: $(BUILD)/bench/offerload.o
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^

# bench/scale/kscale: the kmod scale run's client in the qemu guest
# (bench/kmod/scale.sh).
all: $(BUILD)/tools/kscale
$(BUILD)/tools/kscale: $(BUILD)/bench/scale/kscale.o
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^
