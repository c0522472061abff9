// Where the help buttons point: the extension's own README (shipped inside the .vsix), opened in
// VS Code's Markdown preview. Its "Troubleshooting" section covers both notices. (The project has
// no public web page to link to.)
export const HELP_README = "README.md";
