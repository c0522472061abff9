" vimrc: Vim 9 with ALE 3 (Debian: apt-get install vim-ale), beside your usual linters
filetype plugin indent on  " ALE picks linters by filetype
packadd! ale
call ale#linter#Define('python', {
\   'name': 'oss_sidecar',
\   'lsp': 'stdio',
\   'executable': 'oss-sidecar',
\   'command': '%e lsp',
\   'project_root': {buffer -> fnamemodify(bufname(buffer), ':p:h')},
\   'initialization_options': {'gatewayUrl': 'http://127.0.0.1:8000', 'maxTokens': 64},
\})
" ALE runs only the linters it names for Python unless told: oss_sidecar beside its defaults
let g:ale_linters = extend(get(g:, 'ale_linters', {}),
\   {'python': ['oss_sidecar', 'flake8', 'mypy', 'pylint', 'pyright', 'ruff']})
