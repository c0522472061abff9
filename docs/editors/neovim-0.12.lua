-- init.lua (Neovim 0.12 and later: ghost text)
vim.lsp.config('oss_sidecar', {
  cmd = { 'oss-sidecar', 'lsp' },
  filetypes = { 'python', 'lua', 'javascript', 'typescript', 'rust', 'go', 'c', 'cpp', 'sh' },
  root_markers = { '.git' },
  init_options = { gatewayUrl = 'http://127.0.0.1:8000', maxTokens = 64 },
})
vim.lsp.enable('oss_sidecar')

-- ghost text (vim.lsp.inline_completion); <Tab> accepts
vim.lsp.inline_completion.enable()
vim.keymap.set('i', '<Tab>', function()
  if not vim.lsp.inline_completion.get() then return '<Tab>' end
end, { expr = true, desc = 'accept AI completion' })

-- "AI: Explain" in a floating window instead of a message
vim.lsp.commands['ossSidecar.showMarkdown'] = function(command)
  local arg = command.arguments[1]
  vim.lsp.util.open_floating_preview(vim.split(arg.markdown, '\n'), 'markdown',
    { border = 'rounded', title = arg.title })
end

-- Ask AI about the visual selection: :'<,'>AskAI what does this do?
vim.api.nvim_create_user_command('AskAI', function(opts)
  local client = vim.lsp.get_clients({ name = 'oss_sidecar', bufnr = 0 })[1]
  if not client then return end
  local params = {
    textDocument = vim.lsp.util.make_text_document_params(0),
    range = { start = { line = opts.line1 - 1, character = 0 }, ['end'] = { line = opts.line2, character = 0 } },
    question = opts.args,
  }
  client:request('ossSidecar/ask', params, function(err, result)
    if err then return vim.notify(err.message, vim.log.levels.ERROR) end
    vim.lsp.util.open_floating_preview(vim.split(result.markdown, '\n'), 'markdown', { border = 'rounded' })
  end, 0)
end, { range = true, nargs = '*' })
