package fetch

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// defaultClient times out connecting and waiting for response headers, not
// a long body, and also serves file:// URLs (a mirror on a shared disk).
func defaultClient() *http.Client {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.DialContext = (&net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}).DialContext
	t.ResponseHeaderTimeout = time.Minute
	t.RegisterProtocol("file", http.NewFileTransport(http.Dir("/")))
	return &http.Client{Transport: t}
}

// retryable is an error after which another request resumes the download.
type retryable struct{ err error }

func (r retryable) Error() string { return r.err.Error() }
func (r retryable) Unwrap() error { return r.err }

// download fetches f into part, resuming what part already holds, with up
// to g.attempts requests while the connection drops.
func (g *getter) download(ctx context.Context, f File, part string, rest []File) error {
	src := g.url(f)
	var last error
	for attempt := 0; attempt < g.attempts; attempt++ {
		if attempt > 0 {
			g.logf("%s: %s: %v; resuming (attempt %d of %d)", g.ds.Name, f.Name(), last, attempt+1, g.attempts)
			select {
			case <-ctx.Done():
				return fmt.Errorf("fetch: %s: %s: %w", g.ds.Name, src, ctx.Err())
			case <-time.After(g.retryWait):
			}
		}
		err := g.attempt(ctx, f, src, part, rest)
		var r retryable
		if !errors.As(err, &r) {
			return err
		}
		last = r.err
	}
	have := int64(0)
	if info, err := os.Stat(part); err == nil {
		have = info.Size()
	}
	return fmt.Errorf("fetch: %s: %s: %v, %d times; %s kept in %s (run again to resume)",
		g.ds.Name, src, last, g.attempts, bytesText(have), part)
}

// attempt is one request for the rest of f. A dropped connection or a
// range the server did not honour is a retryable error.
func (g *getter) attempt(ctx context.Context, f File, src, part string, rest []File) error {
	var offset int64
	if info, err := os.Stat(part); err == nil {
		offset = info.Size()
	}
	if f.Size > 0 && offset > f.Size {
		if err := os.Remove(part); err != nil {
			return fmt.Errorf("fetch: %s: %w", g.ds.Name, err)
		}
		offset = 0
	}
	if f.Size > 0 && offset == f.Size {
		return nil // complete; verified next
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, src, nil)
	if err != nil {
		return fmt.Errorf("fetch: %s: %w", g.ds.Name, err)
	}
	req.Header.Set("User-Agent", "gorepro-data")
	validatorFile := part + ".validator"
	if offset > 0 {
		req.Header.Set("Range", fmt.Sprintf("bytes=%d-", offset))
		if v, err := os.ReadFile(validatorFile); err == nil && len(v) > 0 {
			req.Header.Set("If-Range", string(v))
		}
	}
	resp, err := g.client.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("fetch: %s: %s: %w", g.ds.Name, src, ctx.Err())
		}
		if isConnectError(err) {
			return g.offline(src, err, rest)
		}
		return retryable{err}
	}
	defer resp.Body.Close()
	switch {
	case resp.StatusCode == http.StatusPartialContent && offset > 0:
		if start, ok := rangeStart(resp.Header.Get("Content-Range")); !ok || start != offset {
			os.Remove(part)
			return retryable{fmt.Errorf("the server sent bytes from %q, not from %d; restarting", resp.Header.Get("Content-Range"), offset)}
		}
	case resp.StatusCode == http.StatusOK:
		if offset > 0 {
			g.logf("%s: %s: the server ignored the range request (or the file changed): downloading it again from the start", g.ds.Name, f.Name())
			offset = 0
		}
		v := resp.Header.Get("ETag")
		if v == "" || strings.HasPrefix(v, "W/") { // If-Range takes only a strong validator
			v = resp.Header.Get("Last-Modified")
		}
		os.Remove(validatorFile)
		if v != "" {
			if err := os.WriteFile(validatorFile, []byte(v), 0o644); err != nil {
				return diskError(g.ds.Name, err)
			}
		}
	case resp.StatusCode == http.StatusRequestedRangeNotSatisfiable && offset > 0:
		os.Remove(part)
		return retryable{fmt.Errorf("the server cannot send bytes from %d; restarting", offset)}
	default:
		return fmt.Errorf("fetch: %s: %s: the server answered %s", g.ds.Name, src, resp.Status)
	}
	flags := os.O_WRONLY | os.O_CREATE | os.O_APPEND
	if offset == 0 {
		flags |= os.O_TRUNC
	}
	out, err := os.OpenFile(part, flags, 0o644)
	if err != nil {
		return diskError(g.ds.Name, err)
	}
	total := f.Size
	if total == 0 && resp.ContentLength > 0 {
		total = offset + resp.ContentLength
	}
	p := &progress{g: g, name: f.Name(), total: total, done: offset, from: offset, start: g.now()}
	p.last = p.start
	if offset > 0 {
		g.logf("%s: %s: resuming at %s", g.ds.Name, f.Name(), bytesText(offset))
	} else {
		g.logf("%s: downloading %s (%s)", g.ds.Name, src, sizeText(total))
	}
	w := partWriter(out)
	_, copyErr := io.Copy(writerFunc(func(b []byte) (int, error) {
		n, err := w.Write(b)
		p.add(int64(n))
		if err != nil {
			return n, writeError{err}
		}
		return n, nil
	}), resp.Body)
	closeErr := out.Close()
	var we writeError
	switch {
	case errors.As(copyErr, &we):
		return diskError(g.ds.Name, &os.PathError{Op: "write", Path: part, Err: errorsUnwrapPath(we.err)})
	case copyErr != nil:
		if ctx.Err() != nil {
			return fmt.Errorf("fetch: %s: %s: %w", g.ds.Name, src, ctx.Err())
		}
		return retryable{fmt.Errorf("connection lost after %s: %w", bytesText(p.done), copyErr)}
	case closeErr != nil:
		return diskError(g.ds.Name, closeErr)
	}
	p.finish()
	return nil
}

// partWriter is where the body is written: the file itself (tests make it
// fail as a full disk would).
var partWriter = func(f *os.File) io.Writer { return f }

// writeError marks an error of writing the file (not of reading the body).
type writeError struct{ err error }

func (w writeError) Error() string { return w.err.Error() }

type writerFunc func([]byte) (int, error)

func (w writerFunc) Write(b []byte) (int, error) { return w(b) }

// errorsUnwrapPath returns the cause of a *os.PathError (no space left on
// device), or err.
func errorsUnwrapPath(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// rangeStart parses the first byte of a Content-Range "bytes a-b/n".
func rangeStart(h string) (int64, bool) {
	rest, ok := strings.CutPrefix(h, "bytes ")
	if !ok {
		return 0, false
	}
	first, _, ok := strings.Cut(rest, "-")
	if !ok {
		return 0, false
	}
	n, err := strconv.ParseInt(strings.TrimSpace(first), 10, 64)
	return n, err == nil && n >= 0
}

// isConnectError reports whether err means no connection could be made:
// name resolution, refused, unreachable, or a dial timeout.
func isConnectError(err error) bool {
	var dns *net.DNSError
	if errors.As(err, &dns) {
		return true
	}
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "dial"
}

// offline is the one-line error of a server that cannot be reached: what
// to download by hand and where to put it.
func (g *getter) offline(src string, err error, rest []File) error {
	host := src
	if u, perr := url.Parse(src); perr == nil {
		host = u.Host
	}
	cause := err.Error()
	var op *net.OpError
	if errors.As(err, &op) && op.Err != nil {
		cause = op.Err.Error()
	}
	var todo []string
	for _, f := range rest {
		final := filepath.Join(g.dir, "downloads", f.Name())
		if _, err := os.Stat(final); err == nil {
			continue
		}
		from := f.URL
		if g.mirror != "" {
			from = g.url(f) + " (or " + f.URL + ")"
		}
		todo = append(todo, fmt.Sprintf("%s to %s (%s)", from, final, f.Digest))
	}
	return fmt.Errorf("fetch: %s: %w to %s (%s); copy by hand: %s; then run again",
		g.ds.Name, ErrOffline, host, cause, strings.Join(todo, "; "))
}

// progress writes a download's progress lines, at most one a second.
type progress struct {
	g                 *getter
	name              string
	total, done, from int64
	start, last       time.Time
}

func (p *progress) add(n int64) {
	p.done += n
	now := p.g.now()
	if now.Sub(p.last) < time.Second {
		return
	}
	p.last = now
	p.line(now, "")
}

func (p *progress) finish() {
	p.line(p.g.now(), "done: ")
}

func (p *progress) line(now time.Time, prefix string) {
	if p.g.progress == nil {
		return
	}
	rate := ""
	if el := now.Sub(p.start).Seconds(); el > 0 {
		rate = ", " + bytesText(int64(float64(p.done-p.from)/el)) + "/s"
	}
	of := bytesText(p.done)
	if p.total > 0 {
		of = fmt.Sprintf("%s of %s (%d%%)", bytesText(p.done), bytesText(p.total), p.done*100/p.total)
	}
	p.g.logf("%s: %s: %s%s%s", p.g.ds.Name, p.name, prefix, of, rate)
}

// bytesText is n in B, kB, MB or GB (powers of 1000, one decimal).
func bytesText(n int64) string {
	switch {
	case n < 1000:
		return fmt.Sprintf("%d B", n)
	case n < 1e6:
		return fmt.Sprintf("%.1f kB", float64(n)/1e3)
	case n < 1e9:
		return fmt.Sprintf("%.1f MB", float64(n)/1e6)
	}
	return fmt.Sprintf("%.2f GB", float64(n)/1e9)
}

// sizeText is bytesText, or "size unknown" for 0.
func sizeText(n int64) string {
	if n <= 0 {
		return "size unknown"
	}
	return bytesText(n)
}
