package fleet

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/amenzhinsky/iothub/common"
	"github.com/amenzhinsky/iothub/iotservice"
	"github.com/amenzhinsky/iothub/logger"
)

// Credentials are the parts of an IoT Hub service connection string.
type Credentials struct {
	HostName string
	Policy   string
	key      string
}

// Key is the policy key (base64): keep it out of output.
func (c Credentials) Key() string { return c.key }

// ParseConnectionString reads
// HostName=<hub>;SharedAccessKeyName=<policy>;SharedAccessKey=<key>. Its
// errors name the part that is wrong and never repeat a value but the
// field names and the hostname.
func ParseConnectionString(cs string) (Credentials, error) {
	var c Credentials
	if strings.TrimSpace(cs) == "" {
		return c, errors.New("connection string: empty")
	}
	seen := map[string]bool{}
	for i, part := range strings.Split(strings.TrimSpace(cs), ";") {
		if part == "" {
			continue
		}
		k, v, ok := strings.Cut(part, "=")
		if !ok || k == "" {
			return c, fmt.Errorf("connection string: part %d is not Name=value", i+1)
		}
		if seen[k] {
			return c, fmt.Errorf("connection string: %s appears twice", k)
		}
		seen[k] = true
		switch k {
		case "HostName":
			c.HostName = v
		case "SharedAccessKeyName":
			c.Policy = v
		case "SharedAccessKey":
			c.key = v
		case "DeviceId", "ModuleId":
			return c, fmt.Errorf("connection string: it names a %s: that is a device's connection string; "+
				"the fleet view needs one of the hub's shared access policies with registry read rights", k)
		case "SharedAccessSignature", "GatewayHostName", "x509":
			return c, fmt.Errorf("connection string: %s is not supported: use a shared access policy's connection string", k)
		default:
			return c, fmt.Errorf("connection string: unknown field %q (want HostName, SharedAccessKeyName, SharedAccessKey)", k)
		}
	}
	switch {
	case c.HostName == "":
		return c, errors.New("connection string: missing HostName")
	case c.Policy == "":
		return c, errors.New("connection string: missing SharedAccessKeyName")
	case c.key == "":
		return c, errors.New("connection string: missing SharedAccessKey")
	}
	if strings.ContainsAny(c.HostName, "/?#@ ") {
		return c, errors.New("connection string: HostName must be a hostname (and port), such as myhub.azure-devices.net")
	}
	if b, err := base64.StdEncoding.DecodeString(c.key); err != nil || len(b) == 0 {
		return c, errors.New("connection string: SharedAccessKey is not base64")
	}
	return c, nil
}

// Client is the IoT Hub service client of the fleet view: amenzhinsky's,
// over a transport that pages the twin query (PageSize), asks a throttled
// page again (Retries) and counts pages and bytes (Stats).
type Client struct {
	*iotservice.Client
	query *queryTransport
}

// Stats counts the query's pages, bytes and retries so far.
func (c *Client) Stats() QueryStats { return c.query.stats() }

// maxCAFile bounds the --ca-file read: a bundle of PEM certificates.
const maxCAFile = 1 << 20

// NewClient is an IoT Hub service client for creds. TLS is verified against
// Azure's roots as the library embeds them, plus the PEM certificates of
// caFile when it is not empty (a private CA, a TLS-inspecting proxy, the
// emulator's Edge CA). The library's own logging is off: at debug level it
// would print the requests' signatures.
func NewClient(creds Credentials, caFile string) (*Client, error) {
	roots := common.RootCAs()
	if caFile != "" {
		pem, err := readCAFile(caFile)
		if err != nil {
			return nil, err
		}
		if !roots.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("CA file %s: no PEM certificate in it", caFile)
		}
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}
	qt := &queryTransport{base: tr, sleep: time.Sleep}
	sak := common.NewSharedAccessKey(creds.HostName, creds.Policy, creds.key)
	c, err := iotservice.New(sak,
		iotservice.WithHTTPClient(&http.Client{Transport: qt}),
		iotservice.WithTLSConfig(tr.TLSClientConfig),
		iotservice.WithLogger(logger.New(logger.LevelOff, nil)))
	if err != nil {
		return nil, err
	}
	return &Client{Client: c, query: qt}, nil
}

func readCAFile(name string) ([]byte, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, fmt.Errorf("CA file: %w", err)
	}
	defer f.Close()
	pem, err := io.ReadAll(io.LimitReader(f, maxCAFile+1))
	if err != nil {
		return nil, fmt.Errorf("CA file %s: %w", name, err)
	}
	if len(pem) > maxCAFile {
		return nil, fmt.Errorf("CA file %s: larger than %d bytes (1 MiB), the bound on a bundle of certificates", name, maxCAFile)
	}
	return pem, nil
}

// Explain turns a failed query into a sentence saying what to do; host is
// the hub's hostname.
func Explain(err error, host string) error {
	var (
		re    *iotservice.RequestError
		bad   *iotservice.BadRequestError
		uerr  x509.UnknownAuthorityError
		herr  x509.HostnameError
		cverr *tls.CertificateVerificationError
		nerr  net.Error
		oerr  *net.OpError
		dnerr *net.DNSError
	)
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return fmt.Errorf("IoT Hub %s did not answer in time (--timeout)", host)
	case errors.As(err, &re) && re.Code == http.StatusUnauthorized:
		return fmt.Errorf("IoT Hub %s refused the credentials (401 Unauthorized): check the policy name and key of the connection string", host)
	case errors.As(err, &re) && re.Code == http.StatusForbidden:
		return fmt.Errorf("IoT Hub %s refused the query (403 Forbidden): the policy needs registry read rights", host)
	case errors.As(err, &re) && re.Code == http.StatusTooManyRequests:
		return fmt.Errorf("IoT Hub %s throttled the query (429) and still did after %d tries again, or its Retry-After was past --timeout: "+
			"queries are limited to 20 a minute per unit on S1; try again later or with a longer --timeout", host, Retries)
	case errors.As(err, &re):
		return fmt.Errorf("IoT Hub %s answered %d %s", host, re.Code, http.StatusText(re.Code))
	case errors.As(err, &bad):
		return fmt.Errorf("IoT Hub %s refused the query: %s", host, bad.Message)
	case errors.As(err, &uerr):
		return fmt.Errorf("TLS: the certificate of %s is not signed by a trusted authority (a private CA or a TLS-inspecting proxy: pass its certificate with --ca-file)", host)
	case errors.As(err, &herr):
		return fmt.Errorf("TLS: the certificate of %s is not issued for that name", host)
	case errors.As(err, &cverr):
		return fmt.Errorf("TLS: the certificate of %s cannot be verified: %w", host, cverr.Err)
	case errors.As(err, &dnerr):
		return fmt.Errorf("cannot reach IoT Hub %s: no such host", host)
	case errors.As(err, &oerr), errors.As(err, &nerr):
		return fmt.Errorf("cannot reach IoT Hub %s: %w", host, innermost(err))
	}
	return fmt.Errorf("querying IoT Hub %s: %w", host, innermost(err))
}

// innermost drops url.Error's "Post https://...:" prefix.
func innermost(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}
