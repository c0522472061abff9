-- Driven by bench/neovim_latency.py: the ghost-text samples of bench/vscode_latency.py through
-- Neovim's own LSP client. For each sample a new file, Enter at the end of its `def` line and
-- <C-x><C-o> (docs/editors/neovim-0.10.lua's way to ask), then the time until the completion
-- menu has the item, on Neovim's clock; and, inside it, the language server's part: the
-- textDocument/completion request sent -> its answer received (the client's RPC, wrapped).
local out = { samples = {}, errors = {} }
local folder = os.getenv('OSS_FOLDER')
local n = tonumber(os.getenv('OSS_SAMPLES'))

local function sleep(ms)
  local co = coroutine.running()
  vim.defer_fn(function() assert(coroutine.resume(co)) end, ms)
  coroutine.yield()
end

local function wait_until(timeout_ms, step_ms, predicate)
  local waited = 0
  while not predicate() do
    if waited >= timeout_ms then return false end
    sleep(step_ms)
    waited = waited + step_ms
  end
  return true
end

local function client_of(buf)
  return vim.lsp.get_clients({ bufnr = buf, name = 'oss_sidecar' })[1]
end

local rpc_ms -- the last completion request's round trip
local function wrap_rpc(client)
  if client.rpc.oss_wrapped then return end
  local request = client.rpc.request
  client.rpc.request = function(method, params, callback, ...)
    if method ~= 'textDocument/completion' then return request(method, params, callback, ...) end
    local sent = vim.uv.hrtime()
    return request(method, params, function(...)
      rpc_ms = (vim.uv.hrtime() - sent) / 1e6
      return callback(...)
    end, ...)
  end
  client.rpc.oss_wrapped = true
end

local function main()
  for i = 0, n - 1 do
    local path = string.format('%s/typing_%d.py', folder, i)
    vim.cmd.edit(vim.fn.fnameescape(path))
    local buf = vim.api.nvim_get_current_buf()
    local client
    if not wait_until(30000, 50, function()
      client = client_of(buf)
      return client ~= nil and client.initialized == true
    end) then
      table.insert(out.errors, 'no language server on ' .. path)
      break
    end
    wrap_rpc(client)
    sleep(1000) -- the document is open on the server, as in the VS Code run
    vim.api.nvim_win_set_cursor(0, { 4, 0 })
    rpc_ms = nil
    local start = vim.uv.hrtime()
    vim.api.nvim_feedkeys(vim.api.nvim_replace_termcodes('A<CR><C-x><C-o>', true, false, true), 'n', false)
    local shown = wait_until(60000, 2, function()
      return vim.fn.mode() == 'i' and #vim.fn.complete_info({ 'items' }).items > 0
    end)
    local total = (vim.uv.hrtime() - start) / 1e6
    if shown then
      local item = vim.fn.complete_info({ 'items' }).items[1]
      local text = vim.tbl_get(item, 'user_data', 'nvim', 'lsp', 'completion_item', 'textEdit', 'newText') or ''
      table.insert(out.samples, { shown_ms = total, server_ms = rpc_ms or vim.NIL, chars = #text })
    else
      table.insert(out.errors, string.format('sample %d: no item within 60 s', i))
    end
    vim.api.nvim_feedkeys(vim.api.nvim_replace_termcodes('<C-e><Esc>', true, false, true), 'n', false)
    wait_until(5000, 20, function() return vim.fn.mode() == 'n' end)
    vim.cmd('silent! bwipeout!')
  end
end

local co = coroutine.create(function()
  local ok, err = pcall(main)
  if not ok then table.insert(out.errors, tostring(err)) end
  out.version = tostring(vim.version())
  vim.fn.writefile({ vim.json.encode(out) }, os.getenv('OSS_RESULT'))
  vim.cmd('qall!')
end)
vim.schedule(function() assert(coroutine.resume(co)) end)
