// Three projects so that `make unit` needs nothing running, while `test/` (integration, real
// kube-apiserver) and `e2e/` (whole system: apiserver, Pebble, BIND) bring up the rig themselves.
const tsJest = {
  "^.+\\.ts$": ["ts-jest", { useESM: true, diagnostics: false }],
};
const common = {
  extensionsToTreatAsEsm: [".ts"],
  moduleNameMapper: { "^(\\.{1,2}/.*)\\.js$": "$1" },
  transform: tsJest,
  testEnvironment: "node",
  // The rig's etcd keeps *.snap files; jest would take them for stale snapshots.
  modulePathIgnorePatterns: ["<rootDir>/.rig/", "<rootDir>/dist/"],
  testPathIgnorePatterns: ["/node_modules/", "<rootDir>/.rig/", "<rootDir>/dist/"],
};

/** @type {import('jest').Config} */
export default {
  projects: [
    { ...common, displayName: "unit", testMatch: ["<rootDir>/src/**/*.test.ts"] },
    {
      ...common,
      displayName: "integration",
      setupFilesAfterEnv: ["<rootDir>/test/support/long-timeout.ts"],
      testMatch: ["<rootDir>/test/**/*.test.ts"],
      globalSetup: "<rootDir>/test/support/global-setup.ts",
      globalTeardown: "<rootDir>/test/support/global-teardown.ts",
    },
    {
      ...common,
      displayName: "e2e",
      setupFilesAfterEnv: ["<rootDir>/test/support/long-timeout.ts"],
      testMatch: ["<rootDir>/e2e/**/*.test.ts"],
      globalSetup: "<rootDir>/test/support/global-setup.ts",
      globalTeardown: "<rootDir>/test/support/global-teardown.ts",
    },
  ],
};
