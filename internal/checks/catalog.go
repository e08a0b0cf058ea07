package checks

// All returns every check, in report order (the order of the catalog,
// CHECKS.md, copied in testdata/CHECKS.md, then CHECKS-operations.md). It is the one list of checks: the
// policy decoder, the runner and the docs all read it.
func All() []*Check {
	return []*Check{
		// Device configuration
		productionCertificates,
		edgeCAExpiry,
		runtimeVersionSupported,
		containerEngineMoby,
		upstreamProtocolInfo,
		hostnameValid,
		// Deployment
		upstreamProtocolConsistent,
		edgeAgentStorage,
		edgeHubStorage,
		edgehubOptimizeForPerformance,
		edgehubProtocolHeads,
		edgehubMessageTTL,
		noDebugImages,
		modulesRunning,
		deploymentTwinSize,
		moduleUpdateMode,
		// Container management
		imageTagsPinned,
		unusedVolumes,
		runtimeImagesPrivateRegistry,
		imageGarbageCollection,
		// Networking
		upstreamConnectivity,
		registryConnectivity,
		proxySettingsConsistent,
		containerEngineDNS,
		clockSkew,
		// Solution management
		containerEngineLogrotate,
		observabilityModule,
		// Security
		moduleResourceLimits,
		privilegedContainers,
		hostNamespaces,
		dockerSocketMounts,
		sensitiveHostMounts,
		exposedPorts,
		privateRegistry,
		// Operations
		diskSpace,
		memoryPressure,
		edgehubQueueBacklog,
		edgehubMessagesDropped,
		upstreamOffline,
		iothubSync,
		metricsEndpoints,
		// Deployment manifest (check --manifest)
		schemaVersionSupported,
		createOptionsValid,
		routesValid,
		manifestSecrets,
		// Reported failures (CHECKS-operations.md)
		moduleUnhealthy,
		restartGivenUp,
		runtimeVersionSkew,
		storeAndForwardCapacity,
		moduleMemoryHeadroom,
		offlineBoot,
		nestedParentTLS,
		metricsCollectorIngestion,
	}
}
