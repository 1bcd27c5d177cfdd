# Makefile for shardroute, built with PGXS against PostgreSQL 15.

EXTENSION = shardroute
EXTVERSION = 0.1

MODULE_big = shardroute
OBJS = $(patsubst %.c,%.o,$(wildcard src/*.c))
DATA = $(wildcard sql/$(EXTENSION)--*.sql)
SCRIPTS = src/shardroute-register-env

# pg_regress: every sql/*.sql but the install scripts, in name order
REGRESS = $(sort $(filter-out $(EXTENSION)--%,$(patsubst sql/%.sql,%,$(wildcard sql/*.sql))))

# multi-node TAP tests
TAP_TESTS = 1
PROVE_TESTS = test/t/*.pl

PG_CPPFLAGS = -I$(libpq_srcdir)
PG_CFLAGS = -Wall -Wextra -Werror -Wno-unused-parameter -Wno-missing-field-initializers -Wno-sign-compare
SHLIB_LINK_INTERNAL = $(libpq)

PG_CONFIG ?= pg_config
PGXS := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)
