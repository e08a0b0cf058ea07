package facts

import (
	"github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/network"
)

// ContainerFromInspect turns a Docker inspect answer into a Container as the
// Docker source does; the support-bundle reader reads its inspect files with it.
func ContainerFromInspect(ic *container.InspectResponse) Container { return convertContainer(ic) }

// NetworksFromList turns Docker's network list into Networks as the Docker
// source does.
func NetworksFromList(list []network.Summary) []Network { return convertNetworks(list) }
