-- init.lua (Neovim 0.7 to 0.9)
local oss_sidecar = {
  name = 'oss_sidecar',
  cmd = { 'oss-sidecar', 'lsp' },
  init_options = { gatewayUrl = 'http://127.0.0.1:8000', maxTokens = 64 },
}
vim.api.nvim_create_autocmd('FileType', {
  pattern = { 'python', 'lua', 'javascript', 'typescript', 'rust', 'go', 'c', 'cpp', 'sh' },
  callback = function(args)
    if vim.lsp.start then -- 0.8 and later
      vim.lsp.start(vim.tbl_extend('force', oss_sidecar, { root_dir = vim.fn.getcwd() }))
    else -- 0.7: one client, attached to each buffer
      oss_sidecar.id = oss_sidecar.id or vim.lsp.start_client(oss_sidecar)
      vim.lsp.buf_attach_client(args.buf, oss_sidecar.id)
    end
    -- AI completion as a completion item: <C-x><C-o> in insert mode
    vim.bo[args.buf].omnifunc = 'v:lua.vim.lsp.omnifunc'
  end,
})
