/**
 * The defaults a job gets for what neither flags nor settings.json say.
 * Here, in config, because the settings merge needs them and config imports
 * neither archive nor lifecycle; archive/formats.ts and archive/naming.ts
 * take them from here.
 */

/** The archive format when none is asked for. */
export const DEFAULT_FORMAT = 'tar.gz' as const;

/** The archive name template when none is given. */
export const DEFAULT_NAME_TEMPLATE = '{source}-{date}-{time}';
