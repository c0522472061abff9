-- init.lua (Neovim 0.10 and 0.11)
local oss_sidecar = {
  name = 'oss_sidecar',
  cmd = { 'oss-sidecar', 'lsp' },
  init_options = { gatewayUrl = 'http://127.0.0.1:8000', maxTokens = 64 },
}
vim.api.nvim_create_autocmd('FileType', {
  pattern = { 'python', 'lua', 'javascript', 'typescript', 'rust', 'go', 'c', 'cpp', 'sh' },
  callback = function(args)
    vim.lsp.start(vim.tbl_extend('force', oss_sidecar, { root_dir = vim.fn.getcwd() }))
    -- AI completion as a completion item: <C-x><C-o> in insert mode, <C-y> accepts
    vim.bo[args.buf].omnifunc = 'v:lua.vim.lsp.omnifunc'
  end,
})

-- a menu for the one AI item too, so that <C-y> accepts it
vim.opt.completeopt:append('menuone')
-- Accepting the AI item inserts the whole suggestion: for a plain-text item, Neovim 0.10 and
-- 0.11 insert only the first word of its textEdit (`return` of `return n * fib(n - 1)`)
vim.api.nvim_create_autocmd('CompleteDone', {
  callback = function(args)
    if vim.v.event.reason and vim.v.event.reason ~= 'accept' then return end
    local done = vim.v.completed_item
    local item = vim.tbl_get(done, 'user_data', 'nvim', 'lsp', 'completion_item')
    if not item or item.detail ~= 'oss-sidecar (AI)' or not item.textEdit then return end
    local row, col = unpack(vim.api.nvim_win_get_cursor(0))
    local start = col - #done.word -- where the item's word went in
    local lines = vim.split(item.textEdit.newText, '\n', { plain = true })
    vim.api.nvim_buf_set_text(args.buf, row - 1, start, row - 1, col, lines)
    local last = #lines == 1 and start + #lines[1] or #lines[#lines]
    vim.api.nvim_win_set_cursor(0, { row + #lines - 1, last })
  end,
})

-- "AI: Explain" in a floating window instead of a message
vim.lsp.commands['ossSidecar.showMarkdown'] = function(command)
  local arg = command.arguments[1]
  vim.lsp.util.open_floating_preview(vim.split(arg.markdown, '\n'), 'markdown',
    { border = 'rounded', title = arg.title })
end
