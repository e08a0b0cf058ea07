package checks

import (
	"github.com/distribution/reference"
)

// imageRef is a parsed image reference.
type imageRef struct {
	domain string // docker.io for Docker Hub
	path   string
	tag    string
	digest string
}

func parseImage(s string) (imageRef, error) {
	named, err := reference.ParseNormalizedNamed(s)
	if err != nil {
		return imageRef{}, err
	}
	r := imageRef{domain: reference.Domain(named), path: reference.Path(named)}
	if t, ok := named.(reference.Tagged); ok {
		r.tag = t.Tag()
	}
	if d, ok := named.(reference.Digested); ok {
		r.digest = d.Digest().String()
	}
	return r, nil
}
