package devserver

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"sync/atomic"

	"go.temporal.io/server/common/log"
	"go.temporal.io/server/common/log/tag"
)

// minLevelHandler drops records below a minimum level before they reach the
// wrapped handler. The Temporal server logs a great deal at INFO (shard
// movements, membership, every service start/stop), so by default only WARN
// and above are forwarded. Once stopping is set (Server.Stop, or a failed
// Start), nothing passes: services going down one after the other log
// warnings and "context canceled" errors about each other's closed
// connections and cancelled long polls, which is expected and only noise.
type minLevelHandler struct {
	min      slog.Leveler
	stopping *atomic.Bool
	inner    slog.Handler
}

func (h minLevelHandler) Enabled(ctx context.Context, l slog.Level) bool {
	if l < h.min.Level() || h.stopping.Load() {
		return false
	}
	return h.inner.Enabled(ctx, l)
}

func (h minLevelHandler) Handle(ctx context.Context, r slog.Record) error {
	return h.inner.Handle(ctx, r)
}

func (h minLevelHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return minLevelHandler{min: h.min, stopping: h.stopping, inner: h.inner.WithAttrs(attrs)}
}

func (h minLevelHandler) WithGroup(name string) slog.Handler {
	return minLevelHandler{min: h.min, stopping: h.stopping, inner: h.inner.WithGroup(name)}
}

// serverLogger adapts an *slog.Logger to the Temporal server's log.Logger.
// It also implements log.SLogWrapper so server components that want an
// *slog.Logger get the same (filtered) logger back instead of a double wrap.
type serverLogger struct {
	sl *slog.Logger
}

var (
	_ log.Logger      = serverLogger{}
	_ log.WithLogger  = serverLogger{}
	_ log.SLogWrapper = serverLogger{}
)

func newServerLogger(base *slog.Logger, min slog.Leveler, stopping *atomic.Bool) serverLogger {
	h := minLevelHandler{min: min, stopping: stopping, inner: base.Handler()}
	return serverLogger{sl: slog.New(h).With("component", "temporal-server")}
}

func (l serverLogger) emit(level slog.Level, msg string, tags []tag.Tag) {
	ctx := context.Background()
	if !l.sl.Enabled(ctx, level) {
		return // skip the (not free) tag rendering below
	}
	l.sl.LogAttrs(ctx, level, msg, tagsToAttrs(tags)...)
}

func tagsToAttrs(tags []tag.Tag) []slog.Attr {
	attrs := make([]slog.Attr, 0, len(tags))
	for _, t := range tags {
		if t == nil {
			continue
		}
		attrs = append(attrs, slog.Any(t.Key(), t.Value()))
	}
	return attrs
}

func (l serverLogger) Debug(msg string, tags ...tag.Tag) { l.emit(slog.LevelDebug, msg, tags) }
func (l serverLogger) Info(msg string, tags ...tag.Tag)  { l.emit(slog.LevelInfo, msg, tags) }
func (l serverLogger) Warn(msg string, tags ...tag.Tag)  { l.emit(slog.LevelWarn, msg, tags) }
func (l serverLogger) Error(msg string, tags ...tag.Tag) { l.emit(slog.LevelError, msg, tags) }

// DPanic logs at error level (production semantics: no panic).
func (l serverLogger) DPanic(msg string, tags ...tag.Tag) { l.emit(slog.LevelError, msg, tags) }

// Panic logs and panics, like the server's own zap logger.
func (l serverLogger) Panic(msg string, tags ...tag.Tag) {
	l.emit(slog.LevelError, msg, tags)
	panic(msg)
}

// Fatal logs and exits the process, like the server's own zap logger. The
// server only uses it for unrecoverable invariants.
func (l serverLogger) Fatal(msg string, tags ...tag.Tag) {
	l.emit(slog.LevelError, msg, tags)
	fmt.Fprintln(os.Stderr, "temporal server fatal error:", msg)
	os.Exit(1)
}

func (l serverLogger) With(tags ...tag.Tag) log.Logger {
	attrs := tagsToAttrs(tags)
	args := make([]any, len(attrs))
	for i, a := range attrs {
		args[i] = a
	}
	return serverLogger{sl: l.sl.With(args...)}
}

func (l serverLogger) SLog() *slog.Logger { return l.sl }
