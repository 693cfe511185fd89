/* The test citizens the VNeID stand-in can log in: invented people with
 * Ho Chi Minh City addresses and personal ID numbers shaped like real ones
 * (province code 079, then the gender/century digit, the two-digit birth
 * year, six digits), so that checks on the shape of the data pass without
 * any real person's data. The set covers both identification levels (level 1
 * = registered online, level 2 = verified in person), both genders, an
 * elderly and a young citizen, and one citizen without a phone number so the
 * relying party's "phone when given" path is exercised.
 *
 * Also builds the identity claims the ID token and /userinfo share, and the
 * subject identifier: "vneid-" + the first 16 bytes of SHA-256 over a fixed
 * label and the personal ID, in hex: stable across restarts, opaque to the
 * relying party (it does not reveal the ID number). */
#include "sim/vneid.h"

#include <openssl/sha.h>
#include <stdio.h>
#include <string.h>

const vneid_citizen vneid_citizens[] = {
    {"079085001234", "Nguyễn Văn An", "1985-03-14", "male", "12 Nguyễn Huệ", "Phường Bến Nghé",
     "Quận 1", "+84912345678", 2},
    {"079192004567", "Trần Thị Bích Ngọc", "1992-11-02", "female", "45/7 Lê Văn Sỹ",
     "Phường 13", "Quận 3", "+84903123456", 2},
    {"079201007890", "Lê Hoàng Phúc", "2001-07-21", "male", "88 Nguyễn Thị Thập",
     "Phường Tân Phú", "Quận 7", "+84978123456", 1},
    /* No phone number: the relying party must cope with the claim missing. */
    {"079178002345", "Phạm Thị Thu Hà", "1978-05-30", "female", "102 Phan Xích Long", "Phường 2",
     "Quận Phú Nhuận", NULL, 1},
    {"079064009876", "Võ Minh Đức", "1964-01-09", "male", "331 An Dương Vương", "Phường 3",
     "Quận 5", "+84388765432", 2},
    {"079303006543", "Huỳnh Ngọc Trâm Anh", "2003-09-15", "female", "17 Lê Đức Thọ", "Phường 7",
     "Quận Gò Vấp", "+84326543210", 1},
    {"079090003210", "Đặng Quốc Bảo", "1990-12-25", "male", "9 Đường 3 Tháng 2", "Phường 12",
     "Quận 10", "+84856781234", 2},
    {"079155008642", "Dương Thị Hồng Nhung", "1955-04-18", "female", "205 Xô Viết Nghệ Tĩnh",
     "Phường 25", "Quận Bình Thạnh", "+84918765432", 2},
};
const size_t vneid_ncitizens = sizeof vneid_citizens / sizeof vneid_citizens[0];

int vneid_citizen_find(const char *personal_id)
{
    if (!personal_id) return -1;
    for (size_t i = 0; i < vneid_ncitizens; i++)
        if (strcmp(vneid_citizens[i].personal_id, personal_id) == 0) return (int)i;
    return -1;
}

void vneid_citizen_sub(const vneid_citizen *c, char *out, size_t cap)
{
    static const char label[] = "cds-sim vneid subject v1:";
    unsigned char md[SHA256_DIGEST_LENGTH], in[64];
    size_t ll = sizeof label - 1, pl = strlen(c->personal_id);
    if (ll + pl > sizeof in) pl = sizeof in - ll; /* personal IDs are 12 digits */
    memcpy(in, label, ll);
    memcpy(in + ll, c->personal_id, pl);
    SHA256(in, ll + pl, md);
    static const char hex[] = "0123456789abcdef";
    char s[6 + 32 + 1] = "vneid-";
    for (size_t i = 0; i < 16; i++) {
        s[6 + 2 * i] = hex[md[i] >> 4];
        s[6 + 2 * i + 1] = hex[md[i] & 15];
    }
    s[6 + 32] = 0;
    snprintf(out, cap, "%s", s);
}

json_t *vneid_citizen_claims(const vneid_citizen *c)
{
    char sub[48], formatted[512];
    vneid_citizen_sub(c, sub, sizeof sub);
    snprintf(formatted, sizeof formatted, "%s, %s, %s, Thành phố Hồ Chí Minh", c->street, c->ward,
             c->district);
    json_t *addr = json_pack("{s:s,s:s,s:s,s:s,s:s}", "formatted", formatted, "street_address",
                             c->street, "locality", c->ward, "region", c->district, "country",
                             "VN");
    json_t *j = json_pack("{s:s,s:s,s:s,s:s,s:s,s:o,s:i,s:s}", "sub", sub, "personal_id",
                          c->personal_id, "name", c->name, "birthdate", c->birthdate, "gender",
                          c->gender, "address", addr, "identification_level", c->level, "acr",
                          c->level >= 2 ? "urn:vneid:ial:2" : "urn:vneid:ial:1");
    if (j && c->phone) {
        json_object_set_new(j, "phone_number", json_string(c->phone));
        json_object_set_new(j, "phone_number_verified", json_true());
    }
    return j;
}

/* ---------------- as the provider's directory ---------------- */

static size_t count(void)
{
    return vneid_ncitizens;
}

static const char *key(size_t i)
{
    return vneid_citizens[i].personal_id;
}

static const char *name(size_t i)
{
    return vneid_citizens[i].name;
}

static void meta(size_t i, const char *acr_values, vneid_buf *b)
{
    const vneid_citizen *c = &vneid_citizens[i];
    char masked[32];
    vj_mask_id(c->personal_id, masked, sizeof masked);
    vneid_buf_puts(b, "<div class=\"meta\">Số định danh: ");
    vneid_buf_html(b, masked);
    vneid_buf_puts(b, c->level >= 2 ? " · Định danh mức 2" : " · Định danh mức 1");
    vneid_buf_puts(b, "</div>");
    if (acr_values && strstr(acr_values, "urn:vneid:ial:2") && c->level < 2)
        vneid_buf_puts(b, "<div class=\"warn\">Chưa đạt mức định danh 2 mà ứng dụng yêu cầu</div>");
}

static json_t *claims(size_t i)
{
    return vneid_citizen_claims(&vneid_citizens[i]);
}

const vneid_directory vneid_citizen_directory = {
    .title = "Đăng nhập bằng VNeID (giả lập)",
    .intro = "đề nghị truy cập thông tin định danh của bạn (số định danh cá nhân, họ tên, ngày "
             "sinh, giới tính, địa chỉ).",
    .count = count,
    .find = vneid_citizen_find,
    .key = key,
    .name = name,
    .meta = meta,
    .claims = claims,
};
