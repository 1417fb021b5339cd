import { describe, expect, it } from 'vitest';
import { ConfigError, DEFAULT_REGIONS, loadConfig, parseRegions, parseWhiteboxRegions } from '../../src/config.js';

// KMS_WHITEBOX_REGIONS (docs/whitebox.md#regions): by default the four regions whose API pages list
// the white-box actions; `*` every configured region; otherwise configured regions only.

describe('KMS_WHITEBOX_REGIONS', () => {
  const regions = parseRegions(DEFAULT_REGIONS);

  it('defaults to ap-beijing, ap-guangzhou, ap-hongkong and ap-shanghai (ap-singapore has none)', () => {
    expect(loadConfig({}).whiteboxRegions).toEqual(['ap-beijing', 'ap-guangzhou', 'ap-hongkong', 'ap-shanghai']);
    expect(parseWhiteboxRegions('', regions)).toEqual(['ap-beijing', 'ap-guangzhou', 'ap-hongkong', 'ap-shanghai']);
  });

  it('`*` offers them in every configured region; a list names configured regions only', () => {
    expect(parseWhiteboxRegions(' * ', regions)).toBe('*');
    expect(parseWhiteboxRegions('ap-singapore, ap-guangzhou', regions)).toEqual(['ap-singapore', 'ap-guangzhou']);
    expect(() => parseWhiteboxRegions('ap-mars', regions)).toThrow(ConfigError);
    expect(loadConfig({ KMS_REGIONS: 'onprem-1:SM', KMS_WHITEBOX_REGIONS: 'onprem-1' }).whiteboxRegions).toEqual(['onprem-1']);
  });
});
