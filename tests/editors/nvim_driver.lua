-- Drives Neovim's own LSP client through a code action and a completion, as a user would:
-- the README's configuration is the init file (tests/editors/test_neovim.py), this script only
-- does what the user's keys would and writes what happened to $OSS_RESULT as JSON.
local result = { titles = {}, errors = {}, messages = {} }
local original

local function sleep(ms)
  local co = coroutine.running()
  vim.defer_fn(function() assert(coroutine.resume(co)) end, ms)
  coroutine.yield()
end

local function wait_until(timeout_ms, predicate)
  local waited = 0
  while not predicate() do
    if waited >= timeout_ms then return false end
    sleep(50)
    waited = waited + 50
  end
  return true
end

local function lines() return vim.api.nvim_buf_get_lines(0, 0, -1, false) end

local function finish()
  local file = io.open(os.getenv('OSS_RESULT'), 'w')
  file:write(vim.fn.json_encode(result))
  file:close()
  vim.cmd('qa!')
end

-- messages the user would see
local notify = vim.notify
vim.notify = function(msg, level, opts)
  table.insert(result.messages, msg)
  return notify(msg, level, opts)
end

-- observe (not replace) the edits Neovim applies
local apply = vim.lsp.util.apply_workspace_edit
vim.lsp.util.apply_workspace_edit = function(edit, ...)
  result.edit = edit
  return apply(edit, ...)
end

-- select lines `first` and `first + 1` linewise (V), pick `title` in the code-action menu and
-- wait for the edit; the titles offered go into `titles`
local function run_action(first, title, titles)
  result.edit = nil
  vim.cmd('normal! ' .. first .. 'GVj')
  vim.cmd('normal! \27')
  local chosen = false
  vim.ui.select = function(items, opts, on_choice)
    for _, item in ipairs(items) do
      local offered = opts.format_item(item)
      table.insert(titles, offered)
      if offered == title then chosen = item end
    end
    on_choice(chosen or nil)
  end
  vim.lsp.buf.range_code_action()
  return wait_until(100000, function() return result.edit ~= nil end)
end

local function main()
  local client
  result.attached = wait_until(30000, function()
    for _, c in pairs(vim.lsp.buf_get_clients(0)) do client = c end
    return client ~= nil and client.initialized == true
  end)
  if not result.attached then return end
  result.completion_provider = client.server_capabilities.completionProvider ~= nil
  -- small answers from the tiny test model (what a user could set at any time)
  client.notify('workspace/didChangeConfiguration', {
    settings = { ossSidecar = { chatMaxTokens = tonumber(os.getenv('OSS_CHAT_MAX_TOKENS')),
                                maxTokens = 8, temperature = 0, debounceMs = 0,
                                completionTimeoutMs = 90000 } },
  })
  original = lines()

  -- 0. no selection (a cursor, no diagnostics): no actions at all
  vim.api.nvim_win_set_cursor(0, { 2, 4 })
  local offered = nil
  vim.ui.select = function(items) offered = #items end
  vim.lsp.buf.code_action()
  wait_until(20000, function()
    return offered ~= nil or vim.tbl_contains(result.messages, 'No code actions available')
  end)
  result.cursor_actions = offered or 0
  result.cursor_message = vim.tbl_contains(result.messages, 'No code actions available')

  -- 1. a linewise selection of the first two lines, then the code-action menu
  result.edited = run_action(1, 'AI: Add docstring', result.titles)
  result.action_edit = result.edit
  sleep(100)
  result.before_action = original
  result.after_action = lines()

  -- 2. completion through textDocument/completion (omnifunc) in `print(mu|)`, then accept it
  local last = #lines()
  vim.api.nvim_buf_set_lines(0, last, last, false, { 'print(mu)' })
  local before = lines()
  vim.api.nvim_win_set_cursor(0, { last + 1, 0 })
  vim.api.nvim_feedkeys(vim.api.nvim_replace_termcodes('f)i<C-x><C-o>', true, false, true), 'n', false)
  result.completion_shown = wait_until(60000, function()
    return vim.fn.mode() == 'i' and #vim.fn.complete_info({ 'items' }).items > 0
  end)
  if result.completion_shown then
    local item = vim.fn.complete_info({ 'items' }).items[1]
    result.completion_item = { word = item.word, menu = item.menu }
  end
  -- Vim inserts the first item at once (default 'completeopt'); leaving insert mode keeps it.
  -- (<C-y> would do the same with a menu on screen, but a headless Neovim shows no menu.)
  vim.api.nvim_feedkeys(vim.api.nvim_replace_termcodes('<Esc>', true, false, true), 'n', false)
  wait_until(5000, function() return vim.fn.mode() == 'n' end)
  result.completed_line = lines()[last + 1]
  result.before_completion = before[last + 1]

  -- 3. Enter at the end of an indented line, then ask (0.7 has no automatic trigger): the
  --    suggestion goes on the new line at the editor's indentation, with no empty line first
  local fresh = os.getenv('OSS_FRESH_FILE')
  if fresh then
    vim.cmd('edit ' .. vim.fn.fnameescape(fresh))
    wait_until(30000, function() return #vim.lsp.buf_get_clients(0) > 0 end)
    local row = #lines()
    vim.api.nvim_win_set_cursor(0, { row, #lines()[row] })
    result.fresh_before = lines()
    vim.api.nvim_feedkeys(vim.api.nvim_replace_termcodes('A<CR><C-x><C-o>', true, false, true), 'n', false)
    result.fresh_shown = wait_until(60000, function()
      return vim.fn.mode() == 'i' and #vim.fn.complete_info({ 'items' }).items > 0
    end)
    vim.api.nvim_feedkeys(vim.api.nvim_replace_termcodes('<Esc>', true, false, true), 'n', false)
    wait_until(5000, function() return vim.fn.mode() == 'n' end)
    result.fresh_after = lines()
  end

  -- 4. an action on a method's two lines: the answer stays inside the class
  local method = os.getenv('OSS_METHOD_FILE')
  if method then
    vim.cmd('edit ' .. vim.fn.fnameescape(method))
    wait_until(30000, function() return #vim.lsp.buf_get_clients(0) > 0 end)
    result.method_before = lines()
    result.method_edited = run_action(2, os.getenv('OSS_METHOD_ACTION'), {})
    sleep(100)
    result.method_edit = result.edit
    result.method_after = lines()
  end
end

coroutine.wrap(function()
  local ok, err = pcall(main)
  if not ok then table.insert(result.errors, tostring(err)) end
  finish()
end)()
