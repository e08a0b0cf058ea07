package fleet

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/amenzhinsky/iothub/iotservice"
)

const secretKey = "c2VjcmV0LWtleS1vZi10aGUtcG9saWN5LTMyYnl0ZXMh"

func TestParseConnectionString(t *testing.T) {
	good := "HostName=hub.azure-devices.net;SharedAccessKeyName=registryRead;SharedAccessKey=" + secretKey
	c, err := ParseConnectionString(good)
	if err != nil || c.HostName != "hub.azure-devices.net" || c.Policy != "registryRead" || c.Key() != secretKey {
		t.Fatalf("%+v, %v", c, err)
	}
	if c, err := ParseConnectionString(good + ";"); err != nil || c.HostName == "" {
		t.Errorf("trailing semicolon: %v", err)
	}
	for _, tc := range []struct{ cs, want string }{
		{"", "connection string: empty"},
		{"garbage" + secretKey, "connection string: part 1 is not Name=value"},
		{"HostName=hub;SharedAccessKeyName=p", "connection string: missing SharedAccessKey"},
		{"HostName=hub;SharedAccessKey=" + secretKey, "connection string: missing SharedAccessKeyName"},
		{"SharedAccessKeyName=p;SharedAccessKey=" + secretKey, "connection string: missing HostName"},
		{"HostName=hub;SharedAccessKeyName=p;SharedAccessKey=" + secretKey + "!", "connection string: SharedAccessKey is not base64"},
		{"HostName=hub;DeviceId=d1;SharedAccessKey=" + secretKey, "connection string: it names a DeviceId: that is a device's connection string"},
		{"HostName=hub;SharedAccessKeyName=p;SharedAccessKey=" + secretKey + ";SharedAccessKey=" + secretKey, "connection string: SharedAccessKey appears twice"},
		{"HostName=hub;SharedAccessKeyName=p;Key=" + secretKey, `connection string: unknown field "Key"`},
		{"HostName=https://hub/;SharedAccessKeyName=p;SharedAccessKey=" + secretKey, "connection string: HostName must be a hostname"},
	} {
		_, err := ParseConnectionString(tc.cs)
		if err == nil || !strings.HasPrefix(err.Error(), tc.want) {
			t.Errorf("%q: %v, want %q", strings.ReplaceAll(tc.cs, secretKey, "KEY"), err, tc.want)
		}
		if err != nil && strings.Contains(err.Error(), secretKey[:12]) {
			t.Errorf("the error repeats the key: %v", err)
		}
	}
}

func TestNewClientCAFile(t *testing.T) {
	c, _ := ParseConnectionString("HostName=hub;SharedAccessKeyName=p;SharedAccessKey=" + secretKey)
	if _, err := NewClient(c, filepath.Join(t.TempDir(), "missing.pem")); err == nil || !strings.HasPrefix(err.Error(), "CA file: ") {
		t.Errorf("missing CA file: %v", err)
	}
	empty := filepath.Join(t.TempDir(), "empty.pem")
	if err := os.WriteFile(empty, []byte("not a certificate"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := NewClient(c, empty); err == nil || !strings.Contains(err.Error(), "no PEM certificate") {
		t.Errorf("CA file without certificates: %v", err)
	}
	if _, err := NewClient(c, ""); err != nil {
		t.Error(err)
	}
}

func TestExplain(t *testing.T) {
	wrap := func(err error) error {
		return &url.Error{Op: "Post", URL: "https://hub/devices/query?api-version=2020-09-30", Err: err}
	}
	for _, tc := range []struct {
		err  error
		want string
	}{
		{&iotservice.RequestError{Code: 401, Body: []byte(`{"Message":"ErrorCode:IotHubUnauthorizedAccess;Unauthorized"}`)}, "IoT Hub hub refused the credentials (401 Unauthorized)"},
		{&iotservice.RequestError{Code: 403}, "the policy needs registry read rights"},
		{&iotservice.RequestError{Code: 429}, "throttled"},
		{&iotservice.RequestError{Code: 500}, "IoT Hub hub answered 500 Internal Server Error"},
		{&iotservice.BadRequestError{Message: "ErrorCode:BadRequest;nope"}, "IoT Hub hub refused the query: ErrorCode:BadRequest;nope"},
		{wrap(x509.UnknownAuthorityError{}), "TLS: the certificate of hub is not signed by a trusted authority"},
		{wrap(x509.HostnameError{Certificate: &x509.Certificate{}, Host: "hub"}), "TLS: the certificate of hub is not issued for that name"},
		{wrap(&net.OpError{Op: "dial", Net: "tcp", Err: errors.New("connect: connection refused")}), "cannot reach IoT Hub hub: dial tcp: connect: connection refused"},
		{wrap(&net.DNSError{Err: "no such host", Name: "hub", IsNotFound: true}), "cannot reach IoT Hub hub: no such host"},
		{wrap(context.DeadlineExceeded), "IoT Hub hub did not answer in time"},
		{fmt.Errorf("something: %w", errors.New("odd")), "querying IoT Hub hub: something: odd"},
	} {
		if got := Explain(tc.err, "hub").Error(); !strings.HasPrefix(got, tc.want) && !strings.Contains(got, tc.want) {
			t.Errorf("%v: %q, want %q", tc.err, got, tc.want)
		}
	}
}
