package workload

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func serveUnix(t *testing.T, h http.Handler) string {
	t.Helper()
	sock := filepath.Join(t.TempDir(), "workload.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: h}
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() { srv.Close() })
	return "unix://" + sock
}

func caPEM(t *testing.T) string {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test CA"}, IsCA: true,
		BasicConstraintsValid: true, NotBefore: time.Now(), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
}

func TestTrustBundle(t *testing.T) {
	bundle := caPEM(t)
	uri := serveUnix(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/trust-bundle" || r.URL.Query().Get("api-version") == "" {
			w.WriteHeader(400)
			_, _ = w.Write([]byte(`{"message":"api-version not specified"}`))
			return
		}
		_ = json.NewEncoder(w).Encode(map[string]string{"certificate": bundle})
	}))
	c, err := New(uri)
	if err != nil {
		t.Fatal(err)
	}
	_, certs, err := c.TrustBundle(context.Background())
	if err != nil || len(certs) != 1 || certs[0].Subject.CommonName != "test CA" {
		t.Fatalf("TrustBundle = %v, %v", certs, err)
	}
}

func TestTrustBundleErrors(t *testing.T) {
	tests := []struct {
		name    string
		handler http.HandlerFunc
		want    string
	}{
		{"http error", func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(403)
			_, _ = w.Write([]byte(`{"message":"forbidden"}`))
		}, "HTTP 403 forbidden"},
		{"empty bundle", func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte(`{"certificate":""}`)) }, "no certificate"},
		{"garbage", func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte(`<html>`)) }, "decoding the answer"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, _ := New(serveUnix(t, tt.handler))
			_, _, err := c.TrustBundle(context.Background())
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %v, want %q", err, tt.want)
			}
		})
	}
	c, _ := New("unix:///nonexistent/workload.sock")
	if _, _, err := c.TrustBundle(context.Background()); err == nil || !strings.Contains(err.Error(), "nonexistent") {
		t.Errorf("missing socket: %v", err)
	}
	if _, err := New("ftp://x"); err == nil {
		t.Error("ftp scheme accepted")
	}
}
