"""Provider clients behind one small interface (`worker.providers.base.Provider`)."""
