package checks

// All returns every check, in report order. It is the one list of checks:
// the policy decoder, the runner and the docs all read it.
func All() []*Check {
	return []*Check{
		// Device configuration
		runtimeVersionSupported,
		containerEngineMoby,
		// Deployment
		upstreamProtocolConsistent,
		edgeAgentStorage,
		edgeHubStorage,
		edgehubOptimizeForPerformance,
		noDebugImages,
		modulesRunning,
		// Container management
		imageTagsPinned,
		unusedVolumes,
		// Solution management
		containerEngineLogrotate,
		// Security
		moduleResourceLimits,
		// Operations
		diskSpace,
		metricsEndpoints,
	}
}
