// Where the help buttons point: README sections (merged from docs/EDITORS.md).
export const REPOSITORY = "https://github.com/oss-sidecar/oss-sidecar";
export const HELP_NOT_INSTALLED = `${REPOSITORY}#oss-sidecar-is-not-installed`;
export const HELP_UNREACHABLE = `${REPOSITORY}#the-gateway-is-unreachable`;
export const HELP_EXTENSION = `${REPOSITORY}#vs-code-extension`;
