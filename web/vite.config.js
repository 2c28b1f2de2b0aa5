import { defineConfig } from "vite";
import react from "@vitejs/plugin-react";

// Built by `cargo xtask demo` into the state directory (--outDir), once per content hash.
export default defineConfig({
  plugins: [react()],
  build: { chunkSizeWarningLimit: 4096, sourcemap: false },
});
