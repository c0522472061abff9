;; init.el: lsp-mode (8.0 and later), beside your usual language server
(with-eval-after-load 'lsp-mode
  (lsp-register-client
   (make-lsp-client
    :server-id 'oss-sidecar
    :new-connection (lsp-stdio-connection '("oss-sidecar" "lsp"))
    :activation-fn (lsp-activate-on "python")
    :add-on? t
    :initialization-options '(:gatewayUrl "http://127.0.0.1:8000" :maxTokens 64))))
(add-hook 'python-mode-hook #'lsp-deferred)
