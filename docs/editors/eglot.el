;; init.el: eglot (built into Emacs 29; Debian's elpa-eglot on Emacs 28)
(with-eval-after-load 'eglot
  (add-to-list 'eglot-server-programs
               '((python-mode python-ts-mode)
                 . ("oss-sidecar" "lsp" :initializationOptions
                    (:gatewayUrl "http://127.0.0.1:8000" :maxTokens 64)))))
(add-hook 'python-mode-hook #'eglot-ensure)
