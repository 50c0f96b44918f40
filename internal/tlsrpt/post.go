package tlsrpt

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
)

// gzipReport is the report as gzipped JSON, the form both deliveries
// carry (RFC 8460 §5.2: compressed with gzip, application/tlsrpt+gzip).
func gzipReport(rep Report) ([]byte, error) {
	data, err := json.Marshal(rep)
	if err != nil {
		return nil, err
	}
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write(data)
	if err := zw.Close(); err != nil {
		return nil, err
	}
	return gz.Bytes(), nil
}

// Post delivers rep to an https: report URI of a `_smtp._tls` record
// (RFC 8460 §3, §5.4 HTTPS transport): the gzipped JSON as the body of a POST with
// Content-Type application/tlsrpt+gzip; any 2xx answer is success. The
// server's certificate is verified by client's transport (its RootCAs;
// a plain http: URI is refused, as the record allows only https).
func Post(ctx context.Context, client *http.Client, uri string, rep Report) error {
	if !strings.HasPrefix(uri, "https://") {
		return fmt.Errorf("tlsrpt: %q is not an https URI", uri)
	}
	body, err := gzipReport(rep)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, uri, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("tlsrpt: %w", err)
	}
	req.Header.Set("Content-Type", "application/tlsrpt+gzip")
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("tlsrpt: posting to %s: %w", uri, err)
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("tlsrpt: %s answered %s", uri, resp.Status)
	}
	return nil
}
